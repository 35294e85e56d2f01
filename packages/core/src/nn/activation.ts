import { tf } from '../tf.js';

export type ActivationName = 'gelu' | 'relu';

/** Exact GELU, x * Phi(x) with erf, as torch.nn.GELU() (the tanh form moves logits by ~1e-3). */
export function gelu<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)) as T);
}

/** relu6(x + 3) / 6, PyTorch's Hardsigmoid. */
export function hardSigmoid<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.div(tf.relu6(tf.add(x, 3)), 6) as T);
}

export function activation<T extends tf.Tensor>(name: ActivationName, x: T): T {
  return name === 'gelu' ? gelu(x) : tf.relu(x);
}
