import { tf, type OnnxGraph } from '@partialnet/core';

/**
 * iRPE ("Rethinking and Improving Relative Position Encoding for Vision Transformer", Wu et al.
 * 2021) in the configuration PartialNet uses: Euclidean method, bias mode, on keys, ratio 20, so
 * alpha 20, beta 40, gamma 160 and 2*beta+1 = 81 buckets per head.
 */
export const IRPE = { alpha: 20, beta: 40, gamma: 160, numBuckets: 81 } as const;

const f32 = Math.fround;

/** Round half to even, as torch.round does. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Bucket of a (non-negative) rounded Euclidean distance: identity up to alpha, logarithmic beyond,
 * clipped to beta; then shifted by beta so ids start at 0. Float32 arithmetic, like the reference.
 */
export function irpeBucket(distance: number): number {
  const { alpha, beta, gamma } = IRPE;
  if (distance <= alpha) return roundHalfEven(distance) + beta;
  const logRatio = f32(Math.log(f32(distance / alpha)));
  const scaled = f32(f32(logRatio / f32(Math.log(gamma / alpha))) * (beta - alpha));
  return Math.min(roundHalfEven(f32(alpha + scaled)), beta) + beta;
}

const bucketCache = new Map<string, Int32Array>();

/**
 * Bucket ids [L*L] (L = h*w, row-major pixels) for an h x w map: the rounded distance between
 * every query pixel i and key pixel j.
 */
export function irpeBucketIds(h: number, w: number): Int32Array {
  const key = `${h}x${w}`;
  let ids = bucketCache.get(key);
  if (!ids) {
    const L = h * w;
    ids = new Int32Array(L * L);
    for (let i = 0; i < L; i++) {
      const yi = Math.floor(i / w);
      const xi = i % w;
      for (let j = 0; j < L; j++) {
        const dy = yi - Math.floor(j / w);
        const dx = xi - (j % w);
        const distance = roundHalfEven(f32(Math.sqrt(dy * dy + dx * dx)));
        ids[i * L + j] = irpeBucket(distance);
      }
    }
    bucketCache.set(key, ids);
  }
  return ids;
}

/**
 * Looks up the per-head bias [heads, L, L] from the table [heads, buckets]. The gradient scatters
 * back into the table. wasm has no UnsortedSegmentSum (tf.gather's gradient) but every backend has
 * ScatterNd, which sums updates that hit the same index: the scatter stays on the device.
 */
export function irpeBias(table: tf.Tensor2D, h: number, w: number): tf.Tensor3D {
  const ids = irpeBucketIds(h, w);
  const L = h * w;
  const heads = table.shape[0];
  const numBuckets = table.shape[1];
  const lookup = tf.customGrad((t) => {
    const value = tf.gather(t as tf.Tensor2D, tf.tensor1d(ids, 'int32'), 1).reshape([heads, L, L]) as tf.Tensor3D;
    const gradFunc = (dy: tf.Tensor) => {
      const flat = dy.reshape([heads, L * L]).transpose();
      return tf.scatterND(tf.tensor2d(ids, [L * L, 1], 'int32'), flat, [numBuckets, heads]).transpose();
    };
    return { value, gradFunc };
  });
  return lookup(table) as tf.Tensor3D;
}

/**
 * iRPE bucket ids [L, L] (int64) of an NCHW map, computed in the graph with irpeBucket's float32
 * arithmetic (ONNX Round is half-to-even, like torch.round). Shared by the blocks of a stage.
 */
export function irpeBucketIdsOnnx(g: OnnxGraph, shapeOf: string): string {
  const key = `irpe-ids:${shapeOf}`;
  const cached = g.shared.get(key);
  if (cached) return cached;
  const shape = g.op('Shape', [shapeOf]);
  const { alpha, beta, gamma } = IRPE;
  const scalarOf = (start: number) => g.op('Squeeze', [g.op('Slice', [shape, g.ints([start], 'start'), g.ints([start + 1], 'end')]), g.ints([0], 'axes')]);
  const h = scalarOf(2);
  const w = scalarOf(3);
  const zero = g.op('Squeeze', [g.ints([0], 'zero'), g.ints([0], 'axes')]);
  const one = g.op('Squeeze', [g.ints([1], 'one'), g.ints([0], 'axes')]);
  const pixel = g.op('Range', [zero, g.op('Mul', [h, w]), one]);
  const coord = (c: string) => {
    const col = g.op('Unsqueeze', [c, g.ints([1], 'axes')]);
    const row = g.op('Unsqueeze', [c, g.ints([0], 'axes')]);
    const diff = g.op('Sub', [col, row]);
    return g.op('Mul', [diff, diff]);
  };
  const dy2 = coord(g.op('Div', [pixel, w]));
  const dx2 = coord(g.op('Mod', [pixel, w]));
  const distance = g.op('Round', [g.op('Sqrt', [g.op('Cast', [g.op('Add', [dy2, dx2])], { to: 1 })])]);
  const near = g.op('Add', [distance, g.scalar(beta)]);
  const logRatio = g.op('Log', [g.op('Div', [distance, g.scalar(alpha)])]);
  const scaled = g.op('Mul', [g.op('Div', [logRatio, g.scalar(Math.fround(Math.log(gamma / alpha)))]), g.scalar(beta - alpha)]);
  const far = g.op('Add', [g.op('Min', [g.op('Round', [g.op('Add', [scaled, g.scalar(alpha)])]), g.scalar(beta)]), g.scalar(beta)]);
  const ids = g.op('Cast', [g.op('Where', [g.op('LessOrEqual', [distance, g.scalar(alpha)]), near, far])], { to: 7 });
  g.shared.set(key, ids);
  return ids;
}
