// Every package of the workspace reaches TensorFlow.js through this module, so that there is exactly
// one tfjs-core instance (and one backend registry) in a process.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core registers neither gradients nor chained tensor methods (x.reshape()); its own ESM files
// that do cannot load in plain Node (extensionless imports). The union package's Node bundle
// registers both into tfjs-core's global registries.
import '@tensorflow/tfjs';

export { tf };
export type { Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D, Variable, Rank, NamedTensorMap } from '@tensorflow/tfjs-core';
