import { readdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { ConfusionMatrix, mmsegMetrics, type SegMetrics } from '@partialnet/coco';
import { Progress, tf } from '@partialnet/core';
import { decodeLabelMap, reduceZeroLabel, RecordDataset, type Dataset, type ImageMeta, type SampleRecord } from '@partialnet/data';
import { batchToTensor } from '@partialnet/data/tensor';
import type { SegMeta, SegPrediction } from '@partialnet/segmentation';
import { segTestLoader } from './data.js';

/** What the evaluator calls per batch: a segmenter's `predict`, or anything shaped like it. */
export type SegPredictor = (images: tf.Tensor4D, metas: readonly SegMeta[]) => Promise<SegPrediction[]>;

export interface SegEvalResult {
  metrics: SegMetrics;
  images: number;
  seconds: number;
  imgPerSec: number;
}

export interface EvaluateSegOptions {
  predict: SegPredictor;
  /** The split (SemanticDataset: records with `semanticFile`). */
  dataset: Dataset;
  classNames: readonly string[];
  scale: [number, number];
  ignoreIndex?: number;
  batchSize?: number;
  workers?: number;
  progress?: boolean;
  /** Called with every prediction and its record (e.g. to write PNGs). */
  onPrediction?: (pred: SegPrediction, record: SampleRecord) => Promise<void> | void;
}

/** Reads a record's label map at its stored size, reduce_zero_label applied when the record says so. */
async function labelsOf(r: SampleRecord): Promise<Uint8Array> {
  const map = await decodeLabelMap(r.semanticFile!, { imageId: r.imageId });
  return r.reduceZeroLabel ? reduceZeroLabel(map.data) : map.data;
}

/** The metas the model needs from the data pipeline's. */
export function segMetasOf(metas: readonly ImageMeta[]): SegMeta[] {
  return metas.map((m) => ({ imgShape: m.imgShape, oriShape: m.oriShape, flip: m.flip }));
}

/**
 * mmseg's evaluation: predictions at each image's original size against its original label
 * map, accumulated over the split in one confusion matrix, then IoUMetric (see `mmsegMetrics`).
 */
export async function evaluateSegmentation(o: EvaluateSegOptions): Promise<SegEvalResult> {
  const records: SampleRecord[] = [];
  for (let i = 0; i < o.dataset.length; i++) {
    const r = o.dataset.record(i);
    if (!r.semanticFile) throw new Error(`evaluateSegmentation: image ${r.file} has no label map`);
    records.push(r);
  }
  // The loader reads images only: labels are scored at their stored size, not resized.
  const images = new RecordDataset(records.map(({ semanticFile: _s, reduceZeroLabel: _r, ...rest }) => rest));
  const loader = segTestLoader(images, { scale: o.scale, batchSize: o.batchSize ?? 1, workers: o.workers ?? 0 });
  const cm = new ConfusionMatrix(o.classNames.length, o.ignoreIndex ?? 255);
  const progress = o.progress === false ? undefined : new Progress({ total: records.length, label: 'eval', unit: 'img' });
  const started = performance.now();
  try {
    for await (const batch of loader.epoch(0)) {
      const x = batchToTensor(batch);
      let preds: SegPrediction[];
      try {
        preds = await o.predict(x, segMetasOf(batch.metas));
      } finally {
        x.dispose();
      }
      for (let i = 0; i < preds.length; i++) {
        const r = records[batch.metas[i]!.index]!;
        const p = preds[i]!;
        const gt = await labelsOf(r);
        if (gt.length !== p.data.length) throw new Error(`${r.semanticFile}: label map has ${gt.length} pixels, the prediction for ${r.file} ${p.width}x${p.height}`);
        cm.update(p.data, gt);
        await o.onPrediction?.(p, r);
      }
      progress?.tick(preds.length);
    }
  } finally {
    progress?.done();
    await loader.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return { metrics: mmsegMetrics(cm, o.classNames), images: records.length, seconds, imgPerSec: records.length / Math.max(seconds, 1e-9) };
}

/**
 * Scores a folder of predicted label PNGs against a folder of label PNGs, matched by file name
 * (stem; predictions may be .png of images named .jpg). Both are read as stored indices (palette
 * PNGs give their indices). Every label file needs a prediction; extra predictions are an error too.
 */
export async function scoreLabelFolders(o: { predictions: string; labels: string; numClasses: number; classNames?: readonly string[]; reduceZeroLabel?: boolean; ignoreIndex?: number }): Promise<SegMetrics & { images: number }> {
  const pngs = async (dir: string) => new Map((await readdir(dir)).filter((f) => extname(f).toLowerCase() === '.png').map((f) => [basename(f, extname(f)), join(dir, f)] as const));
  const [preds, labels] = await Promise.all([pngs(o.predictions), pngs(o.labels)]);
  if (labels.size === 0) throw new Error(`${o.labels}: no label PNGs`);
  const missing = [...labels.keys()].filter((k) => !preds.has(k));
  if (missing.length > 0) throw new Error(`${o.predictions}: no prediction for ${missing.length} label map(s): ${missing.slice(0, 5).map((m) => `${m}.png`).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
  const extra = [...preds.keys()].filter((k) => !labels.has(k));
  if (extra.length > 0) throw new Error(`${o.labels}: no label map for ${extra.length} prediction(s): ${extra.slice(0, 5).map((m) => `${m}.png`).join(', ')}${extra.length > 5 ? ', ...' : ''}`);
  const names = o.classNames ?? Array.from({ length: o.numClasses }, (_, i) => String(i));
  const cm = new ConfusionMatrix(o.numClasses, o.ignoreIndex ?? 255);
  for (const [stem, labelFile] of [...labels].sort(([a], [b]) => a.localeCompare(b))) {
    const [p, g] = await Promise.all([decodeLabelMap(preds.get(stem)!), decodeLabelMap(labelFile)]);
    if (p.width !== g.width || p.height !== g.height) throw new Error(`${preds.get(stem)}: ${p.width}x${p.height}, but ${labelFile} is ${g.width}x${g.height}`);
    const gt = o.reduceZeroLabel ? reduceZeroLabel(g.data) : g.data;
    try {
      cm.update(p.data, gt);
    } catch (err) {
      throw new Error(`${preds.get(stem)} vs ${labelFile}: ${(err as Error).message}`);
    }
  }
  return { ...mmsegMetrics(cm, names), images: labels.size };
}

/** Flat numbers for log.jsonl. */
export function flatSegMetrics(m: SegMetrics): Record<string, number> {
  return { aAcc: m.aAcc, mIoU: m.mIoU, mAcc: m.mAcc };
}
