import { loadInstances, type CocoGroundTruth } from '@partialnet/coco';
import { CocoDataset, DataLoader, resolveSplit, splitBatch, testPipeline, trainPipeline, type Batch, type CocoDatasetOptions, type SplitFiles } from '@partialnet/data';
import { batchToTensor } from '@partialnet/data/tensor';
import type { TrainData } from '@partialnet/core';
import type { DetectionBatch } from '@partialnet/detection';

// Data-root layouts are the data package's: re-exported for the pipeline's users.
export { resolveSplit, type SplitFiles } from '@partialnet/data';

/** A split's ground truth (for COCOeval) and its dataset (for the loader), from one read of the file. */
export interface DetectionSplit {
  files: SplitFiles;
  gt: CocoGroundTruth;
  dataset: CocoDataset;
  classNames: readonly string[];
  categoryIds: readonly number[];
}

export async function openDetectionSplit(dir: string, split: string, options: CocoDatasetOptions = {}): Promise<DetectionSplit> {
  const files = await resolveSplit(dir, split);
  const gt = await loadInstances(files.annotations);
  const dataset = new CocoDataset(gt, files.images, options);
  return { files, gt, dataset, classNames: dataset.classNames, categoryIds: dataset.categoryIds };
}

/** Checks that two splits have the same categories (training labels must mean the same in val). */
export function checkSameCategories(a: DetectionSplit, b: DetectionSplit): void {
  const same = a.categoryIds.length === b.categoryIds.length && a.categoryIds.every((id, i) => id === b.categoryIds[i] && a.classNames[i] === b.classNames[i]);
  if (!same) {
    throw new Error(
      `${a.files.annotations} and ${b.files.annotations} have different categories: [${a.categoryIds.map((id, i) => `${id}:${a.classNames[i]}`).join(', ')}] vs [${b.categoryIds.map((id, i) => `${id}:${b.classNames[i]}`).join(', ')}]`,
    );
  }
}

export interface TrainLoaderOptions {
  scale: [number, number];
  flipProb: number;
  batchSize: number;
  seed: number;
  workers: number;
  prefetch?: number;
}

/** mmdet's training loader: shuffled per (seed, epoch), aspect-ratio groups, Resize -> Flip -> Normalize -> Pad(32). */
export function detectionTrainLoader(dataset: CocoDataset, o: TrainLoaderOptions): DataLoader {
  return new DataLoader(dataset, {
    batchSize: o.batchSize,
    pipeline: trainPipeline({ scale: o.scale, flipProb: o.flipProb }),
    shuffle: true,
    seed: o.seed,
    groupByAspectRatio: true,
    // A leftover batch of one image would leave BatchNorm (the PAT_ch gate's in particular) one
    // value per channel; mmdet pads groups instead, dropping the few leftovers is simpler.
    dropLast: o.batchSize > 1,
    workers: o.workers,
    prefetch: o.prefetch ?? Math.max(2, o.workers * 2),
  });
}

/** The inference loader: dataset order, Resize (first scale) -> Normalize -> Pad(32). */
export function detectionTestLoader(dataset: CocoDataset | import('@partialnet/data').Dataset, o: { scale: [number, number]; batchSize: number; workers: number }): DataLoader {
  return new DataLoader(dataset, { batchSize: o.batchSize, pipeline: testPipeline({ scale: o.scale }), shuffle: false, workers: o.workers, prefetch: Math.max(2, o.workers * 2) });
}

/** A data batch as the detectors take it (the image tensor is the caller's to dispose). */
export function toDetectionBatch(batch: Batch): DetectionBatch {
  return { images: batchToTensor(batch), targets: batch.targets, metas: batch.metas };
}

/**
 * The Trainer's view of a DataLoader, for any task whose batches carry an `images` tensor. Every
 * epoch's order and augmentation are a function of (seed, epoch, index), so resuming at batch
 * `start` replays the epoch and drops the batches already trained on; they are decoded again (cheap
 * next to a training step) but never become tensors.
 *
 * With `microBatch` below the loader's batch size, each loader batch is yielded as consecutive
 * micro-batches of that many images (`splitBatch`: the batch's images and padding, cut), and
 * batches and `start` count micro-batches; the Trainer's `accumulate` then has to cover them.
 */
export function loaderTrainData<B extends { images: { dispose(): void; shape: readonly number[] } }>(loader: DataLoader, toBatch: (batch: Batch) => B, microBatch?: number): TrainData<B> {
  const batchSize = loader.options.batchSize;
  const micro = microBatch ?? batchSize;
  if (!(Number.isInteger(micro) && micro >= 1 && batchSize % micro === 0)) throw new Error(`micro-batch of ${micro} images: expected a divisor of the batch size ${batchSize}`);
  const parts = batchSize / micro;
  return {
    batchesPerEpoch: loader.numBatches * parts,
    async *batches(epoch: number, start: number) {
      let i = 0;
      for await (const batch of loader.epoch(epoch)) {
        if (i + parts <= start) {
          i += parts;
          continue;
        }
        for (const part of splitBatch(batch, micro)) if (i++ >= start) yield toBatch(part);
      }
    },
    disposeBatch: (batch) => batch.images.dispose(),
    batchSize: (batch) => batch.images.shape[0]!,
  };
}

/** Detection batches from a loader, optionally as micro-batches (see `loaderTrainData`). */
export function detectionTrainData(loader: DataLoader, microBatch?: number): TrainData<DetectionBatch> {
  return loaderTrainData(loader, toDetectionBatch, microBatch);
}
