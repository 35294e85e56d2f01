import { DataLoader, segTestPipeline, segTrainPipeline, type Batch, type Dataset } from '@partialnet/data';
import { batchToTensor } from '@partialnet/data/tensor';
import type { TrainData } from '@partialnet/core';
import type { SegBatch } from '@partialnet/segmentation';
import { loaderTrainData } from '../data.js';
import type { ResolvedSegRunConfig } from './run-config.js';

/**
 * mmseg's training loader: shuffled per (seed, epoch); RandomResize -> RandomCrop -> RandomFlip ->
 * PhotoMetricDistortion -> Normalize -> pad to the crop (labels with 255). Every random choice is
 * seeded by (seed, epoch, image index), so a resumed run sees the same crops.
 */
export function segTrainLoader(dataset: Dataset, c: Pick<ResolvedSegRunConfig, 'scale' | 'ratioRange' | 'cropSize' | 'catMaxRatio' | 'flipProb' | 'photometric' | 'batchSize' | 'seed' | 'workers'>): DataLoader {
  return new DataLoader(dataset, {
    batchSize: c.batchSize,
    pipeline: segTrainPipeline({ scale: c.scale, ratioRange: c.ratioRange, cropSize: c.cropSize, catMaxRatio: c.catMaxRatio, flipProb: c.flipProb, photometric: c.photometric }),
    shuffle: true,
    seed: c.seed,
    workers: c.workers,
    prefetch: Math.max(2, c.workers * 2),
  });
}

/** The inference loader: dataset order, Resize(scale, keep ratio) -> Normalize -> Pad(32). Label maps are not loaded. */
export function segTestLoader(dataset: Dataset, o: { scale: [number, number]; batchSize: number; workers: number }): DataLoader {
  return new DataLoader(dataset, { batchSize: o.batchSize, pipeline: segTestPipeline({ scale: o.scale }), shuffle: false, workers: o.workers, prefetch: Math.max(2, o.workers * 2) });
}

/** A collated batch as Semantic FPN trains on it (the image tensor is the caller's to dispose). */
export function toSegBatch(batch: Batch): SegBatch {
  if (!batch.semantic) throw new Error(`batch of ${batch.metas.map((m) => m.file).join(', ')}: no label maps loaded`);
  return { images: batchToTensor(batch), labels: batch.semantic };
}

/** Segmentation batches from a loader (see `loaderTrainData`: resuming replays the epoch from its seed). */
export function segTrainData(loader: DataLoader): TrainData<SegBatch> {
  return loaderTrainData(loader, toSegBatch);
}
