/**
 * The wasm heap is at most 4 GiB. A training pass of Mask R-CNN-T0 on one 1333x800 image reaches
 * a heap high-water of 3.1-3.4 GiB (measured, tfjs 4.22, with core's lean backprop; two images of
 * 667x400 in one pass, the same pixel count, 3.5-3.7 GiB before it), so two such images cannot
 * share a pass. So on wasm a batch larger than this many pixels per forward/backward pass is split into
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
