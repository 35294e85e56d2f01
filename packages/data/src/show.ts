import type { Batch } from './collate.js';
import { CocoDataset, type CocoDatasetOptions } from './datasets.js';
import { drawTargets } from './draw.js';
import { resolveSplit } from './splits.js';
import type { ShapesManifest } from './synth.js';
import type { RgbImage } from './types.js';

/** Opens a split of a data directory (see `resolveSplit`): a shapes folder or a COCO layout. */
export async function openCocoDir(
  dir: string,
  split = 'train',
  options?: CocoDatasetOptions,
): Promise<{ dataset: CocoDataset; manifest?: ShapesManifest; semanticDir?: string }> {
  const files = await resolveSplit(dir, split);
  const dataset = await CocoDataset.fromFile(files.annotations, files.images, options);
  return { dataset, ...(files.manifest ? { manifest: files.manifest } : {}), ...(files.semantic ? { semanticDir: files.semantic } : {}) };
}

/** Undoes the normalization of image i of a batch (padding included) into viewable RGB uint8. */
export function batchImageRgb(batch: Batch, i: number): RgbImage {
  const [, H, W] = batch.shape;
  const n = H * W * 3;
  const src = batch.images.subarray(i * n, (i + 1) * n);
  const norm = batch.metas[i]!.normalize;
  const data = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const c = k % 3;
    const v = norm ? src[k]! * norm.std[c]! + norm.mean[c]! : src[k]!;
    data[k] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
  }
  return { data, width: W, height: H };
}

/** Every image of a batch with its masks, boxes, labels and ignore regions drawn (as the model sees it). */
export function drawBatch(batch: Batch, classNames?: readonly string[]): RgbImage[] {
  return batch.metas.map((_, i) => {
    const t = batch.targets[i]!;
    return drawTargets(batchImageRgb(batch, i), {
      boxes: t.boxes,
      labels: t.labels,
      ignoreBoxes: t.ignoreBoxes,
      ...(t.masks ? { masks: t.masks } : {}),
      ...(classNames ? { classNames } : {}),
    });
  });
}
