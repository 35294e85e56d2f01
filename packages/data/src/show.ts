import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Batch } from './collate.js';
import { CocoDataset, exists, type CocoDatasetOptions } from './datasets.js';
import { drawTargets } from './draw.js';
import type { ShapesManifest } from './synth.js';
import type { RgbImage } from './types.js';

/** Opens a data directory: a synthetic shapes set (shapes.json) or `annotations/instances_<split>.json` + `<split>/`. */
export async function openCocoDir(
  dir: string,
  split = 'train',
  options?: CocoDatasetOptions,
): Promise<{ dataset: CocoDataset; manifest?: ShapesManifest; semanticDir?: string }> {
  const manifestPath = join(dir, 'shapes.json');
  if (await exists(manifestPath)) {
    let manifest: ShapesManifest;
    try {
      manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as ShapesManifest;
    } catch (err) {
      throw new Error(`${manifestPath}: unreadable manifest, not valid JSON (${(err as Error).message})`);
    }
    const splits = (manifest as { splits?: unknown } | null)?.splits;
    if (typeof splits !== 'object' || splits === null) throw new Error(`${manifestPath}: field 'splits': expected an object of splits ({ "train": { "annotations", "images" } ...})`);
    const s = (splits as Record<string, { annotations?: unknown; images?: unknown; semantic?: unknown } | undefined>)[split];
    if (!s) throw new Error(`${manifestPath}: field 'splits': no split '${split}' (have ${Object.keys(splits).join(', ')})`);
    if (typeof s.annotations !== 'string' || typeof s.images !== 'string') throw new Error(`${manifestPath}: field 'splits.${split}': expected 'annotations' and 'images' paths`);
    const dataset = await CocoDataset.fromFile(join(dir, s.annotations), join(dir, s.images), options);
    return { dataset, manifest, ...(typeof s.semantic === 'string' ? { semanticDir: join(dir, s.semantic) } : {}) };
  }
  for (const name of [`instances_${split}.json`, `instances_${split}2017.json`]) {
    const ann = join(dir, 'annotations', name);
    if (!(await exists(ann))) continue;
    const imgDir = (await exists(join(dir, `${split}2017`))) ? join(dir, `${split}2017`) : join(dir, split);
    return { dataset: await CocoDataset.fromFile(ann, imgDir, options) };
  }
  throw new Error(`${dir}: neither shapes.json nor annotations/instances_${split}.json found`);
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
