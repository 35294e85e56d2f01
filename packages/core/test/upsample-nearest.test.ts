import { afterAll, describe, expect, it } from 'vitest';
import { upsampleNearest } from '../src/ops/upsample-nearest.js';
import { setupBackend, type BackendName } from '../src/runtime/backend.js';
import { tf } from '../src/tf.js';
import type { Tensor, Tensor4D } from '../src/tf.js';

afterAll(async () => {
  await setupBackend('cpu');
});

const cases: [string, [number, number, number, number], [number, number]][] = [
  ['2x (an FPN level)', [2, 4, 5, 8], [8, 10]],
  ['2x rows, 3x columns', [1, 3, 2, 4], [6, 6]],
  ['1x rows, 2x columns', [1, 3, 2, 4], [3, 4]],
  ['not a whole multiple (tfjs resize)', [1, 3, 5, 2], [7, 8]],
];

/** dx of nearest resizing by floor(dst * in / out), summed in float64: the reference gradient. */
function referenceGrad(shape: number[], size: [number, number], dy: Float32Array): Float64Array {
  const [n, h, w, c] = shape as [number, number, number, number];
  const [oh, ow] = size;
  const dx = new Float64Array(n * h * w * c);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++) {
        const [sy, sx] = [Math.floor((y * h) / oh), Math.floor((x * w) / ow)];
        for (let ch = 0; ch < c; ch++) dx[((b * h + sy) * w + sx) * c + ch]! += dy[((b * oh + y) * ow + x) * c + ch]!;
      }
  return dx;
}

for (const backend of ['cpu', 'wasm'] as BackendName[]) {
  describe(`upsampleNearest on ${backend}`, () => {
    it.each(cases)('%s: forward equals tf.image.resizeNearestNeighbor, the gradient the float64 sums, with nothing left behind', async (_name, shape, size) => {
      await setupBackend(backend);
      const x = tf.randomNormal(shape, 0, 1, 'float32', 1) as Tensor4D;
      const dy = tf.randomNormal([shape[0], size[0], size[1], shape[3]], 0, 1, 'float32', 2) as Tensor4D;
      const before = tf.memory().numTensors;
      const ours = upsampleNearest(x, size);
      const want = tf.image.resizeNearestNeighbor(x, size);
      expect(ours.shape).toEqual(want.shape);
      expect(Array.from(await ours.data())).toEqual(Array.from(await want.data()));
      const [g] = tf.grads((a: Tensor) => upsampleNearest(a as Tensor4D, size))([x], dy);
      const [got, ref] = [await g!.data(), referenceGrad(shape, size, (await dy.data()) as Float32Array)];
      let worst = 0;
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i]! - ref[i]!));
      // (not against tf.grads of tf.image.resizeNearestNeighbor: on tfjs-backend-cpu 4.22 that is
      // off by up to 8 on the first case)
      expect(worst, 'largest difference from the float64 sums').toBeLessThan(1e-5);
      tf.dispose([ours, want, g!]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, dy]);
    });
  });
}
