import { nextSeed } from '../random.js';
import { tf } from '../tf.js';

/** Weight initialisation of the official PartialNet (timm's trunc_normal_, std 0.02). */
export function truncNormal(shape: number[], std = 0.02): tf.Tensor {
  return tf.truncatedNormal(shape, 0, std, 'float32', nextSeed());
}
