import { tf } from '../tf.js';
import type { Tensor } from '../tf.js';

/**
 * Inputs one WebGPU shader may bind: WebGPU's default maxStorageBuffersPerShaderStage (8, which
 * tfjs does not raise) less the output buffer.
 */
const MAX_INPUTS = 7;

/**
 * The element-wise sum of same-shaped tensors, like tf.addN, but correct on WebGPU: tfjs-backend-
 * webgpu's AddN binds every input to one shader, and with more than 7 inputs the pipeline is
 * invalid and the result is whatever the output buffer held before (measured: the sum of 8-16
 * scalars came back as the sum of the previous 7-input call). Summing in groups of 7 stays within
 * the limit on every backend and changes nothing elsewhere.
 */
export function addN<T extends Tensor>(tensors: readonly T[]): T {
  if (tensors.length === 0) throw new Error('addN: needs at least one tensor');
  return tf.tidy(() => {
    let level: Tensor[] = [...tensors];
    while (level.length > MAX_INPUTS) {
      const next: Tensor[] = [];
      for (let i = 0; i < level.length; i += MAX_INPUTS) {
        const group = level.slice(i, i + MAX_INPUTS);
        next.push(group.length === 1 ? group[0]! : tf.addN(group));
      }
      level = next;
    }
    return (level.length === 1 ? tf.clone(level[0]!) : tf.addN(level)) as T;
  });
}
