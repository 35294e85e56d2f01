import { nextSeed } from '../random.js';
import { tf } from '../tf.js';

/**
 * Stochastic depth: drops whole samples of a residual branch with probability `rate` and rescales
 * the kept ones, so that the expectation matches inference.
 */
export function dropPath<T extends tf.Tensor>(x: T, rate: number, training: boolean): T {
  if (!training || rate <= 0) return x;
  return tf.tidy(() => {
    const keep = 1 - rate;
    const maskShape = [x.shape[0]!, ...x.shape.slice(1).map(() => 1)];
    const mask = tf.floor(tf.add(tf.randomUniform(maskShape, 0, 1, 'float32', nextSeed()), keep));
    return tf.mul(x, tf.div(mask, keep)) as T;
  });
}

/** Element-wise dropout (training only). */
export function dropout<T extends tf.Tensor>(x: T, rate: number, training: boolean): T {
  if (!training || rate <= 0) return x;
  return tf.tidy(() => {
    const keep = 1 - rate;
    const mask = tf.floor(tf.add(tf.randomUniform(x.shape, 0, 1, 'float32', nextSeed()), keep));
    return tf.mul(x, tf.div(mask, keep)) as T;
  });
}

/** Channel dropout on NHWC maps (torch.nn.Dropout2d): zeroes whole channels per sample (training only). */
export function dropout2d<T extends tf.Tensor4D>(x: T, rate: number, training: boolean): T {
  if (!training || rate <= 0) return x;
  return tf.tidy(() => {
    const keep = 1 - rate;
    const mask = tf.floor(tf.add(tf.randomUniform([x.shape[0], 1, 1, x.shape[3]], 0, 1, 'float32', nextSeed()), keep));
    return tf.mul(x, tf.div(mask, keep)) as T;
  });
}
