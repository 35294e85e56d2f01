/**
 * The wasm heap is at most 4 GiB. A training step of RetinaNet-T0 or Mask R-CNN-T0 on two
 * 1333x800 images needs more than that (measured, tfjs 4.22: RetinaNet's forward alone reaches
 * 2.5 GiB of heap, and the backward pass about doubles what the forward holds), one image fits.
 * So on wasm a batch larger than this many pixels per step is split into micro-batches whose
 * gradients are accumulated: the same images per optimizer step, the same learning rate; the
 * difference is that BatchNorm statistics come from each micro-batch (as with PyTorch DDP, where
 * each process normalises its own share of the batch).
 */
export const WASM_PIXELS_PER_STEP = 1333 * 800;

export interface BatchPlan {
  batchSize: number;
  accumulate: number;
}

/**
 * The batch size and accumulation to train with on `backend`: unchanged off wasm or when the
 * batch fits; else the largest divisor of batchSize that fits (at least 1), with accumulate
 * multiplied so that batchSize * accumulate stays the same.
 */
export function planBatch(plan: BatchPlan, scale: readonly [number, number], backend: string): BatchPlan {
  if (backend !== 'wasm') return plan;
  const fits = Math.max(1, Math.floor(WASM_PIXELS_PER_STEP / (scale[0] * scale[1])));
  if (plan.batchSize <= fits) return plan;
  let micro = fits;
  while (plan.batchSize % micro !== 0) micro--;
  return { batchSize: micro, accumulate: plan.accumulate * (plan.batchSize / micro) };
}
