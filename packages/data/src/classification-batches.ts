/**
 * Classification batches on the host: NHWC float32 images (ImageNet-normalised), int32 labels and,
 * when mixing is on, the mixup / CutMix weight. Deterministic in the seed: every sample draws its
 * crop and flip from Rng(deriveSeed(seed, epoch, index)) and every batch its mixing from
 * Rng(deriveSeed(seed, epoch, batch, 7)), so a resumed epoch sees the same pixels.
 */
import type { ClassificationSource } from './classification-split.js';
import { centerCropBox, randomClassificationView, renderClassificationSample, type ClassificationTrainTransform } from './classification-transforms.js';
import { mixEnabled, mixImages, type MixOptions, type MixResult } from './mix.js';
import { deriveSeed, Rng } from '@partialnet/core/random';
import { epochBatches } from './sampler.js';
import type { RgbImage } from './types.js';

export interface ClassificationBatch {
  /** [n, size, size, 3] row-major. */
  images: Float32Array;
  shape: [number, number, number, number];
  labels: Int32Array;
  /** Dataset indices of the samples. */
  indices: number[];
  /** Present when the batch was mixed: mix the targets with `mixTargets(targets, K, mix.lam)`. */
  mix?: MixResult;
}

export interface ClassificationTrainOptions extends ClassificationTrainTransform {
  /** Output side in pixels. */
  size: number;
  batchSize: number;
  seed: number;
  /** Mixup / CutMix; off when absent or both alphas are 0. */
  mix?: MixOptions;
}

export interface ClassificationEpochs {
  /** Full batches per epoch (the last partial batch is dropped); 0 when the source is smaller than one. */
  batchesPerEpoch: number;
  /** The batches of `epoch` from batch `start` on (to resume mid-epoch). */
  batches(epoch: number, start?: number): AsyncGenerator<ClassificationBatch>;
}

function decodeAll(source: ClassificationSource, indices: readonly number[]): Promise<RgbImage[]> {
  return Promise.all(indices.map((i) => source.image(i)));
}

/** Training batches: a seeded shuffle per epoch, RandomResizedCrop + flip per sample, optional mixing. */
export function classificationTrainBatches(source: ClassificationSource, o: ClassificationTrainOptions): ClassificationEpochs {
  const sampler = { batchSize: o.batchSize, shuffle: true, seed: o.seed, dropLast: true };
  const mix = o.mix && mixEnabled(o.mix) ? o.mix : undefined;
  return {
    batchesPerEpoch: Math.floor(source.length / o.batchSize),
    async *batches(epoch: number, start = 0) {
      const batches = epochBatches(source.length, sampler, epoch);
      for (let b = start; b < batches.length; b++) {
        const indices = batches[b]!;
        const n = indices.length;
        const images = new Float32Array(n * o.size * o.size * 3);
        const labels = new Int32Array(n);
        const decoded = await decodeAll(source, indices);
        indices.forEach((i, k) => {
          const img = decoded[k]!;
          const view = randomClassificationView(img.width, img.height, new Rng(deriveSeed(o.seed, epoch, i)), o);
          renderClassificationSample(img, view, o.size, images, k);
          labels[k] = source.label(i);
        });
        const batch: ClassificationBatch = { images, shape: [n, o.size, o.size, 3], labels, indices };
        if (mix) batch.mix = mixImages(images, n, o.size, o.size, mix, new Rng(deriveSeed(o.seed, epoch, b, 7)));
        yield batch;
      }
    },
  };
}

/** Evaluation batches in dataset order: centre crop of `cropPct` (default 0.875), resized to `size`. */
export async function* classificationEvalBatches(source: ClassificationSource, o: { size: number; batchSize: number; cropPct?: number }): AsyncGenerator<ClassificationBatch> {
  for (let start = 0; start < source.length; start += o.batchSize) {
    const indices = Array.from({ length: Math.min(o.batchSize, source.length - start) }, (_, i) => start + i);
    const n = indices.length;
    const images = new Float32Array(n * o.size * o.size * 3);
    const decoded = await decodeAll(source, indices);
    decoded.forEach((img, k) => renderClassificationSample(img, { crop: centerCropBox(img.width, img.height, o.cropPct), flip: false }, o.size, images, k));
    yield { images, shape: [n, o.size, o.size, 3], labels: Int32Array.from(indices, (i) => source.label(i)), indices };
  }
}
