import { tf } from '../tf.js';
import type { Tensor, Tensor1D, Tensor2D } from '../tf.js';

/*
 * Per-channel reductions and affine maps of channels-last tensors, written for tfjs-backend-wasm.
 * Its reductions run only over the innermost axes, so tf.sum / tf.mean / tf.moments over the
 * leading axes of an NHWC tensor transpose the whole tensor first, and its broadcasting binary ops
 * leave XNNPACK. On [16, 56, 56, 64]: tf.sum(x, [0, 1, 2]) ~10 ms, XNNPACK's average pooling over
 * the whole map ~2 ms (a matmul with a row of ones would be ~36 ms: XNNPACK repacks x as weights
 * on every call); x * scale + shift ~9 ms, a 1x1 depthwise convolution with bias ~5 ms. Other
 * backends keep the plain ops.
 */

const onWasm = (): boolean => tf.getBackend() === 'wasm';

/** Per-image sums over height and width by average pooling the whole map: [N, H, W, C] -> [N, C]. */
function pooledSum(x: tf.Tensor4D): Tensor2D {
  const [n, h, w, c] = x.shape;
  return tf.tidy(() => tf.reshape(tf.mul(tf.avgPool(x, [h, w], [h, w], 'valid'), h * w), [n, c]) as Tensor2D);
}

/** `reduce(x)` with the gradient of a sum: dy broadcast back over the summed axes. */
function sumWithGrad<T extends Tensor>(x: Tensor, reduce: (v: Tensor) => T, keptShape: number[]): T {
  if (tf.engine().state.gradientDepth === 0) return reduce(x);
  const op = tf.customGrad((...args: unknown[]) => {
    const [v] = args as [Tensor];
    // a broadcasting multiply, not tf.broadcastTo: wasm's Tile takes ~30 ms for [16, 56, 56, 64]
    return { value: reduce(v), gradFunc: (dy: Tensor) => tf.tidy(() => tf.mul(tf.onesLike(v), tf.reshape(dy, keptShape))) };
  });
  return op(x) as T;
}

/** Sum over every axis but the last: [..., C] -> [C]. Differentiable. */
export function channelSum(x: Tensor): Tensor1D {
  const c = x.shape[x.shape.length - 1]!;
  if (!onWasm() || x.rank < 2) return tf.sum(x, x.shape.map((_, i) => i).slice(0, -1)) as Tensor1D;
  const m = x.size / c;
  // one map of m rows: the pooling window covers it whole
  return sumWithGrad(x, (v) => tf.tidy(() => tf.reshape(pooledSum(tf.reshape(v, [1, m, 1, c]) as tf.Tensor4D), [c]) as Tensor1D), [...x.shape.slice(0, -1).map(() => 1), c]);
}

/** Sum over height and width of each image: [N, H, W, C] -> [N, C]. Differentiable. */
export function spatialSum(x: tf.Tensor4D): Tensor2D {
  const [n, , , c] = x.shape;
  if (!onWasm()) return tf.sum(x, [1, 2]) as Tensor2D;
  return sumWithGrad(x, (v) => pooledSum(v as tf.Tensor4D), [n, 1, 1, c]);
}

/**
 * x * scale + shift with one scale and shift per channel (last axis). Not for use under a gradient
 * tape on wasm (its depthwise path has no gradient there): callers are BatchNorm's written-out
 * forward and backward and inference-time affine layers.
 */
export function channelAffine<T extends Tensor>(x: T, scale: Tensor, shift?: Tensor): T {
  if (onWasm() && x.rank === 4) {
    const c = x.shape[3]!;
    return tf.tidy(() => tf.fused.depthwiseConv2d({ x: x as unknown as tf.Tensor4D, filter: tf.reshape(scale, [1, 1, c, 1]) as tf.Tensor4D, strides: 1, pad: 'valid', bias: shift }) as unknown as T);
  }
  return tf.tidy(() => (shift ? tf.add(tf.mul(x, scale), shift) : tf.mul(x, scale)) as T);
}
