import { tf } from '@partialnet/core';
import type { Batch } from './collate.js';

/**
 * The batch images as an NHWC float32 tensor. The data is copied into the backend, except on the
 * `cpu` backend, which keeps a reference: with the DataLoader's reused buffers, dispose the tensor
 * before requesting the batch after next (or construct the loader with `reuseBuffers: false`).
 */
export function batchToTensor(batch: Batch): import('@partialnet/core').Tensor4D {
  return tf.tensor4d(batch.images, batch.shape, 'float32');
}
