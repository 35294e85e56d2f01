import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { COCOeval, loadResults, type CategoryRow, type CocoGroundTruth } from '@partialnet/coco';
import type { ImageMeta } from '@partialnet/data';
import type { Detections } from '@partialnet/detection';
import type { Evaluator } from './evaluator.js';
import { ResultsWriter, detectionsToCoco, type CocoResultEntry, type IouType } from './results.js';

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

/** mmdet's log names for the 12 numbers: `bbox_mAP`, `bbox_mAP_50`, ... */
export const METRIC_SUFFIXES = ['mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l', 'AR_1', 'AR_10', 'AR_100', 'AR_s', 'AR_m', 'AR_l'] as const;

/** `<dir>/results.<split>.<iouType>.json`: one file per split, so evaluating test keeps val's. */
export function resultsFileName(dir: string, split: string, iouType: IouType): string {
  return join(dir, `results.${split}.${iouType}.json`);
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

export interface CocoEvaluatorOptions {
  gt: CocoGroundTruth;
  /** Contiguous label -> COCO category id. */
  labelToCategoryId: readonly number[];
  iouTypes: readonly IouType[];
  /** Where `results.<split>.<iouType>.json` go (the run folder). */
  outDir: string;
  /** The split's name, in the results files' names (default `val`). */
  split?: string;
}

/**
 * COCO AP as an `Evaluator`: `process` streams each batch's detections (original-image
 * coordinates) into temporary results files, `evaluate` renames them into place and scores them with
 * pycocotools' rules, `abort` drops them (the previous results files stay as they were), `merge`
 * adds another shard's detections.
 */
export class CocoEvaluator implements Evaluator<readonly ImageMeta[], readonly Detections[]> {
  readonly split: string;
  /** Per IoU type, after `evaluate`. */
  results: Partial<Record<IouType, IouTypeMetrics>> = {};
  #writers = new Map<IouType, ResultsWriter>();
  #images = 0;

  constructor(readonly o: CocoEvaluatorOptions) {
    this.split = o.split ?? 'val';
  }

  get images(): number {
    return this.#images;
  }

  /** Starts empty (dropping anything processed and not evaluated). */
  async reset(): Promise<void> {
    await this.abort();
    this.results = {};
    this.#images = 0;
    await mkdir(this.o.outDir, { recursive: true });
    this.#writers = new Map(this.o.iouTypes.map((t) => [t, new ResultsWriter(resultsFileName(this.o.outDir, this.split, t))]));
  }

  async process(metas: readonly ImageMeta[], dets: readonly Detections[]): Promise<void> {
    if (this.#writers.size === 0) throw new Error('CocoEvaluator: call reset() before process()');
    if (dets.length !== metas.length) throw new Error(`evaluate: the predictor returned ${dets.length} results for a batch of ${metas.length} images`);
    for (const [t, w] of this.#writers) await w.write(dets.flatMap((d, i) => detectionsToCoco(d, metas[i]!.imageId, this.o.labelToCategoryId, t)));
    this.#images += metas.length;
  }

  /** Adds the detections `other` processed (and drops them from `other`). */
  async merge(other: CocoEvaluator): Promise<void> {
    for (const [t, w] of other.#writers) {
      const mine = this.#writers.get(t);
      if (!mine) throw new Error(`CocoEvaluator.merge: this evaluator has no ${t} results`);
      // The other shard's entries, read back from its (completed, then removed) temporary file.
      const shard = `${w.tmpPath}.shard`;
      await w.close(shard);
      const entries = JSON.parse(await readFile(shard, 'utf8')) as CocoResultEntry[];
      await rm(shard, { force: true });
      await mine.write(entries);
    }
    other.#writers.clear();
    this.#images += other.#images;
  }

  /** Completes the results files and scores them: flat metrics (`bbox_mAP`, ...); details in `results`. */
  async evaluate(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [t, w] of this.#writers) {
      await w.close();
      const m = await scoreResults(this.o.gt, w.path, t);
      this.results[t] = m;
      m.stats.forEach((v, i) => (out[`${t}_${METRIC_SUFFIXES[i]}`] = v));
    }
    this.#writers.clear();
    return out;
  }

  /** Completes the results files without scoring them (a shard of a split): their paths per IoU type. */
  async finish(): Promise<Partial<Record<IouType, string>>> {
    const files: Partial<Record<IouType, string>> = {};
    for (const [t, w] of this.#writers) {
      await w.close();
      files[t] = w.path;
    }
    this.#writers.clear();
    return files;
  }

  /** Drops what was processed; the results files on disk stay as they were. */
  async abort(): Promise<void> {
    await Promise.all([...this.#writers.values()].map((w) => w.abort()));
    this.#writers.clear();
  }
}
