// Every package of the workspace reaches TensorFlow.js through this module, so that there is exactly
// one tfjs-core instance (and one backend registry) in a process.
import * as tf from '@tensorflow/tfjs-core';
// Gradients and chained tensor methods (x.reshape()): registered by the union package in Node, by
// tfjs-core's own files in a bundle (see platform/tfjs-ops.*.ts).
import '#tfjs-ops';
import { installLeanBackprop } from './runtime/lean-backprop.js';

// Backward passes free each gradient and saved tensor once it is used (see lean-backprop.ts).
installLeanBackprop(tf.engine(), tf);

export { tf };
export type { Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D, Variable, Rank, NamedTensorMap } from '@tensorflow/tfjs-core';
