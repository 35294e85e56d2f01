import { tf } from '../tf.js';
import type { Tensor } from '../tf.js';

/**
 * sign(x) as -1 / 0 / +1, the same on every backend. tf.sign is not: the wasm backend's Sign
 * kernel returns 0 for |x| below about 1.2e-7 (it was 0 for 1e-8, 1e-7 and 1e-30), where cpu and
 * webgpu give +-1. Comparisons with 0 are exact everywhere, so the sign is built from them.
 * NaN gives 0 (PyTorch's sign gives NaN). Not differentiable (its gradient is 0, as tf.sign's).
 */
export function exactSign(x: Tensor): Tensor {
  return tf.tidy(() => tf.sub(tf.cast(tf.greater(x, 0), 'float32'), tf.cast(tf.less(x, 0), 'float32')));
}

/**
 * |x| with PyTorch's gradient: dy * sign(x), which is 0 at x = 0. tf.abs's gradient is
 * dy * step(x, -1), -1 at exactly 0, on every backend; that changes the update of any parameter
 * sitting at 0 (a DPConv gate, an L1 term of a prediction equal to its target).
 */
export const absSignGrad: (x: Tensor) => Tensor = tf.customGrad((...args) => {
  const [x, save] = args as [Tensor, (tensors: Tensor[]) => void];
  save([x]);
  return {
    value: tf.abs(x),
    gradFunc: (dy: Tensor, saved: Tensor[]) => tf.tidy(() => tf.mul(dy, exactSign(saved[0]!))),
  };
}) as (x: Tensor) => Tensor;
