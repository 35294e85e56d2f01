import { tf } from '../tf.js';

export type ActivationName = 'gelu' | 'relu';

/** Exact GELU, x * Phi(x) with erf, as torch.nn.GELU() (the tanh form moves logits by ~1e-3). */
export function gelu<T extends tf.Tensor>(x: T): T {
  const value = (v: tf.Tensor): tf.Tensor => tf.tidy(() => tf.mul(tf.mul(v, 0.5), tf.add(tf.erf(tf.mul(v, Math.SQRT1_2)), 1)));
  if (tf.engine().state.gradientDepth === 0) return value(x) as T;
  // Under a gradient tape the derivative Phi(x) + x phi(x) is written out, so only x is kept for
  // the backward pass instead of the four full-size intermediates autodiff would hold.
  const op = tf.customGrad((...args: unknown[]) => {
    const [v, save] = args as [tf.Tensor, (ts: tf.Tensor[]) => void];
    save([v]);
    return {
      value: value(v),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const s = saved[0]!;
          const cdf = tf.mul(tf.add(tf.erf(tf.mul(s, Math.SQRT1_2)), 1), 0.5);
          const pdf = tf.mul(tf.exp(tf.mul(tf.square(s), -0.5)), 1 / Math.sqrt(2 * Math.PI));
          return tf.mul(dy, tf.add(cdf, tf.mul(s, pdf)));
        }),
    };
  });
  return op(x) as T;
}

/** relu6(x + 3) / 6, PyTorch's Hardsigmoid. */
export function hardSigmoid<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.div(tf.relu6(tf.add(x, 3)), 6) as T);
}

export function activation<T extends tf.Tensor>(name: ActivationName, x: T): T {
  return name === 'gelu' ? gelu(x) : tf.relu(x);
}
