import { mkdir } from 'node:fs/promises';
import type { CocoGroundTruth } from '@partialnet/coco';
import { Progress, tf } from '@partialnet/core';
import type { Dataset, ImageMeta } from '@partialnet/data';
import type { Detections } from '@partialnet/detection';
import { batchToTensor } from '@partialnet/data/tensor';
import { CocoEvaluator, METRIC_SUFFIXES, type IouTypeMetrics } from './coco-evaluator.js';
import { detectionTestLoader } from './data.js';
import type { IouType } from './results.js';

/**
 * What the evaluator calls per batch: a detector's `predict`, `predictWithOnnx` over an ONNX
 * Runtime session, or anything shaped like them (tests).
 */
export type Predictor = (images: tf.Tensor4D, metas: readonly ImageMeta[]) => Detections[] | Promise<Detections[]>;

export interface DetectionEvalResult {
  images: number;
  seconds: number;
  /** Inference images per second (data loading included). */
  imgPerSec: number;
  bbox?: IouTypeMetrics;
  segm?: IouTypeMetrics;
  /** The results file of each IoU type (also when `score` is false). */
  resultsFiles?: Partial<Record<IouType, string>>;
}

export interface EvaluateOptions {
  predict: Predictor;
  /** The split's images (a CocoDataset) and its ground truth. */
  dataset: Dataset;
  gt: CocoGroundTruth;
  /** Contiguous label -> COCO category id. */
  labelToCategoryId: readonly number[];
  iouTypes: readonly IouType[];
  /** Where `results.<split>.<iouType>.json` go (the run folder). */
  outDir: string;
  /** The split's name, in the results files' names (default `val`). */
  split?: string;
  scale: [number, number];
  batchSize?: number;
  workers?: number;
  /** Progress bar on stderr (default true). */
  progress?: boolean;
  /** Score the results (default true); false only writes them (a shard of a split). */
  score?: boolean;
}

/** The evaluation as flat numbers for log.jsonl (`bbox_mAP`, `segm_mAP_50`, ...). */
export function flatMetrics(result: DetectionEvalResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of ['bbox', 'segm'] as const) result[t]?.stats.forEach((v, i) => (out[`${t}_${METRIC_SUFFIXES[i]}`] = v));
  return out;
}

/**
 * Runs `predict` over a split in batches (original-image coordinates) into a `CocoEvaluator`: the
 * results files `results.<split>.<iouType>.json` in `outDir` are replaced only when every image is
 * done, then scored with pycocotools' rules. No tensors are left behind.
 */
export async function evaluateDetections(o: EvaluateOptions): Promise<DetectionEvalResult> {
  const started = performance.now();
  await mkdir(o.outDir, { recursive: true });
  const evaluator = new CocoEvaluator({ gt: o.gt, labelToCategoryId: o.labelToCategoryId, iouTypes: o.iouTypes, outDir: o.outDir, split: o.split ?? 'val' });
  await evaluator.reset();
  const loader = detectionTestLoader(o.dataset, { scale: o.scale, batchSize: o.batchSize ?? 1, workers: o.workers ?? 0 });
  const progress = o.progress === false ? undefined : new Progress({ total: o.dataset.length, label: 'eval', unit: 'img' });
  let complete = false;
  try {
    for await (const batch of loader.epoch(0)) {
      const x = batchToTensor(batch);
      let dets: Detections[];
      try {
        dets = await o.predict(x, batch.metas);
      } finally {
        x.dispose();
      }
      await evaluator.process(batch.metas, dets);
      progress?.tick(batch.metas.length);
    }
    complete = true;
  } finally {
    progress?.done();
    await loader.close();
    // Only a complete evaluation replaces the results files: a partial list would score lower silently.
    if (!complete) await evaluator.abort();
  }
  const inferenceSeconds = (performance.now() - started) / 1000;
  const images = evaluator.images;
  const imgPerSec = images / Math.max(inferenceSeconds, 1e-9);
  if (o.score === false) {
    const resultsFiles = await evaluator.finish();
    return { images, seconds: (performance.now() - started) / 1000, imgPerSec, resultsFiles };
  }
  await evaluator.evaluate();
  const resultsFiles = Object.fromEntries(Object.entries(evaluator.results).map(([t, m]) => [t, m.resultsFile]));
  return { images, seconds: (performance.now() - started) / 1000, imgPerSec, ...evaluator.results, resultsFiles };
}

/** A short AP table of one evaluation: one row per IoU type (AP, AP50, AP75, APs, APm, APl). */
export function formatApTable(result: DetectionEvalResult): string {
  const cols = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl'];
  const rows = (['bbox', 'segm'] as const).filter((t) => result[t]);
  const fmt = (v: number) => (v < 0 ? '-' : v.toFixed(3)).padStart(6);
  return [`${'type'.padEnd(5)} ${cols.map((c) => c.padStart(6)).join(' ')}`, ...rows.map((t) => `${t.padEnd(5)} ${result[t]!.stats.slice(0, 6).map(fmt).join(' ')}`)].join('\n');
}
