/**
 * The wasm heap is at most 4 GiB. A training step of RetinaNet-T0 or Mask R-CNN-T0 on two
 * 1333x800 images needs more than that (measured, tfjs 4.22: RetinaNet's forward alone reaches
 * 2.5 GiB of heap, and the backward pass about doubles what the forward holds), one image fits.
 * So on wasm a batch larger than this many pixels per forward/backward pass is split into
 * micro-batches whose gradients are accumulated (see `microBatch` in the detection run config).
 */
export const WASM_PIXELS_PER_STEP = 1333 * 800;

/**
 * The images per forward/backward pass for a batch of `batchSize` at `scale` on `backend`: the
 * whole batch off wasm or when it fits, else the largest divisor of batchSize that fits (at least 1).
 */
export function microBatchFor(batchSize: number, scale: readonly [number, number], backend: string): number {
  if (backend !== 'wasm') return batchSize;
  const fits = Math.max(1, Math.floor(WASM_PIXELS_PER_STEP / (scale[0] * scale[1])));
  if (batchSize <= fits) return batchSize;
  let micro = fits;
  while (batchSize % micro !== 0) micro--;
  return micro;
}
