import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { COCOeval, loadResults, type CategoryRow, type CocoGroundTruth } from '@partialnet/coco';
import { Progress, tf } from '@partialnet/core';
import type { Dataset, ImageMeta } from '@partialnet/data';
import type { Detections } from '@partialnet/detection';
import { batchToTensor } from '@partialnet/data/tensor';
import { detectionTestLoader } from './data.js';
import { ResultsWriter, detectionsToCoco, type IouType } from './results.js';

/** What the evaluator calls per batch: a detector's `predict`, or anything shaped like it (tests). */
export type Predictor = (images: tf.Tensor4D, metas: readonly ImageMeta[]) => Detections[] | Promise<Detections[]>;

export interface IouTypeMetrics {
  /** pycocotools' 12 numbers (AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl). */
  stats: number[];
  /** The 12 lines pycocotools prints. */
  summary: string;
  perCategory: CategoryRow[];
  resultsFile: string;
  numResults: number;
  warnings: readonly string[];
}

export interface DetectionEvalResult {
  images: number;
  seconds: number;
  /** Inference images per second (data loading included). */
  imgPerSec: number;
  bbox?: IouTypeMetrics;
  segm?: IouTypeMetrics;
}

export interface EvaluateOptions {
  predict: Predictor;
  /** The split's images (a CocoDataset) and its ground truth. */
  dataset: Dataset;
  gt: CocoGroundTruth;
  /** Contiguous label -> COCO category id. */
  labelToCategoryId: readonly number[];
  iouTypes: readonly IouType[];
  /** Where `results.<iouType>.json` go (the run folder). */
  outDir: string;
  scale: [number, number];
  batchSize?: number;
  workers?: number;
  /** Progress bar on stderr (default true). */
  progress?: boolean;
}

/** mmdet's log names for the 12 numbers: `bbox_mAP`, `bbox_mAP_50`, ... */
export const METRIC_SUFFIXES = ['mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l', 'AR_1', 'AR_10', 'AR_100', 'AR_s', 'AR_m', 'AR_l'] as const;

/** The evaluation as flat numbers for log.jsonl (`bbox_mAP`, `segm_mAP_50`, ...). */
export function flatMetrics(result: DetectionEvalResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of ['bbox', 'segm'] as const) result[t]?.stats.forEach((v, i) => (out[`${t}_${METRIC_SUFFIXES[i]}`] = v));
  return out;
}

/**
 * Runs `predict` over a split in batches (original-image coordinates), streams COCO results files
 * into `outDir`, and evaluates them with pycocotools' rules. No tensors are left behind.
 */
export async function evaluateDetections(o: EvaluateOptions): Promise<DetectionEvalResult> {
  const started = performance.now();
  await mkdir(o.outDir, { recursive: true });
  const writers = new Map(o.iouTypes.map((t) => [t, new ResultsWriter(join(o.outDir, `results.${t}.json`))]));
  const loader = detectionTestLoader(o.dataset, { scale: o.scale, batchSize: o.batchSize ?? 1, workers: o.workers ?? 0 });
  const progress = o.progress === false ? undefined : new Progress({ total: o.dataset.length, label: 'eval', unit: 'img' });
  let images = 0;
  try {
    for await (const batch of loader.epoch(0)) {
      const metas = batch.metas;
      const x = batchToTensor(batch);
      let dets: Detections[];
      try {
        dets = await o.predict(x, metas);
      } finally {
        x.dispose();
      }
      if (dets.length !== metas.length) throw new Error(`evaluate: the predictor returned ${dets.length} results for a batch of ${metas.length} images`);
      for (const [t, w] of writers) await w.write(dets.flatMap((d, i) => detectionsToCoco(d, batch.metas[i]!.imageId, o.labelToCategoryId, t)));
      images += metas.length;
      progress?.tick(metas.length);
    }
  } finally {
    progress?.done();
    await loader.close();
    await Promise.all([...writers.values()].map((w) => w.close()));
  }
  const inferenceSeconds = (performance.now() - started) / 1000;
  const result: DetectionEvalResult = { images, seconds: 0, imgPerSec: images / Math.max(inferenceSeconds, 1e-9) };
  for (const [t, w] of writers) result[t] = await scoreResults(o.gt, w.path, t);
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/** COCOeval of a results file: the 12 numbers, the printed summary and per-category AP. */
export async function scoreResults(gt: CocoGroundTruth, resultsFile: string, iouType: IouType): Promise<IouTypeMetrics> {
  const dt = await loadResults(gt, resultsFile);
  const E = new COCOeval(gt, dt, iouType);
  E.evaluate();
  E.accumulate();
  const s = E.summarize();
  return { stats: s.stats, summary: s.text, perCategory: E.perCategory(), resultsFile, numResults: dt.count, warnings: dt.warnings };
}

/** A short AP table of one evaluation: one row per IoU type (AP, AP50, AP75, APs, APm, APl). */
export function formatApTable(result: DetectionEvalResult): string {
  const cols = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl'];
  const rows = (['bbox', 'segm'] as const).filter((t) => result[t]);
  const fmt = (v: number) => (v < 0 ? '-' : v.toFixed(3)).padStart(6);
  return [`${'type'.padEnd(5)} ${cols.map((c) => c.padStart(6)).join(' ')}`, ...rows.map((t) => `${t.padEnd(5)} ${result[t]!.stats.slice(0, 6).map(fmt).join(' ')}`)].join('\n');
}
