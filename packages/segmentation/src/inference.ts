import { tf } from '@partialnet/core';

/** Logits [N, h, w, K] at the size of the input [N, h, w, 3]. */
export type LogitsFn = (x: tf.Tensor4D) => tf.Tensor4D;

/** The windows [y1, x1, y2, x2] mmseg's slide_inference visits (the last ones shifted back inside the image). */
export function slideWindows(h: number, w: number, crop: readonly [number, number], stride: readonly [number, number]): [number, number, number, number][] {
  const [hc, wc] = crop;
  const [hs, ws] = stride;
  if (!(hc > 0 && wc > 0 && hs > 0 && ws > 0)) throw new Error(`slide inference: crop and stride must be positive, got crop ${crop.join('x')} stride ${stride.join('x')}`);
  const hGrids = Math.floor(Math.max(h - hc + hs - 1, 0) / hs) + 1;
  const wGrids = Math.floor(Math.max(w - wc + ws - 1, 0) / ws) + 1;
  const out: [number, number, number, number][] = [];
  for (let i = 0; i < hGrids; i++) {
    for (let j = 0; j < wGrids; j++) {
      const y2 = Math.min(i * hs + hc, h);
      const x2 = Math.min(j * ws + wc, w);
      out.push([Math.max(y2 - hc, 0), Math.max(x2 - wc, 0), y2, x2]);
    }
  }
  return out;
}

/**
 * mmseg's slide_inference: `fn` runs on overlapping crops, their logits are added into a map of
 * the full size, and every pixel is divided by the number of crops that covered it.
 */
export function slideLogits(x: tf.Tensor4D, crop: readonly [number, number], stride: readonly [number, number], fn: LogitsFn): tf.Tensor4D {
  const [n, h, w] = x.shape;
  const windows = slideWindows(h, w, crop, stride);
  const count = new Float32Array(h * w);
  for (const [y1, x1, y2, x2] of windows) for (let y = y1; y < y2; y++) for (let xx = x1; xx < x2; xx++) count[y * w + xx]!++;
  return tf.tidy(() => {
    let sum: tf.Tensor4D | undefined;
    for (const [y1, x1, y2, x2] of windows) {
      const part = tf.tidy(() => {
        const logits = fn(tf.slice(x, [0, y1, x1, 0], [n, y2 - y1, x2 - x1, 3]));
        const padded = tf.pad(logits, [[0, 0], [y1, h - y2], [x1, w - x2], [0, 0]]) as tf.Tensor4D;
        return sum ? (tf.add(sum, padded) as tf.Tensor4D) : padded;
      });
      if (sum) sum.dispose();
      sum = part;
    }
    return tf.div(sum!, tf.tensor4d(count, [1, h, w, 1])) as tf.Tensor4D;
  });
}
