import { IMAGENET_MEAN, IMAGENET_STD, normalize, pad, photometricDistortion, randomCrop, randomFlip, randomResizeRatio, resize, type TransformSpec } from './transforms.js';

export interface SegPipelineOptions {
  /** (long, short) base scale; mmseg ADE20K: (2048, 512). */
  scale?: [number, number];
  /** Random ratio of the base scale for training (default [0.5, 2.0]). */
  ratioRange?: [number, number];
  /** Training crop [height, width] (default [512, 512]). */
  cropSize?: [number, number];
  /** RandomCrop's cat_max_ratio (default 0.75). */
  catMaxRatio?: number;
  flipProb?: number;
  photometric?: boolean;
  mean?: [number, number, number];
  std?: [number, number, number];
  ignoreIndex?: number;
  /** Pad divisor (training default 1: crops are padded to the crop size only, as mmseg; test default 32). */
  padDivisor?: number;
}

/**
 * mmseg's ADE20K training pipeline: RandomResize(scale, ratio_range, keep_ratio) -> RandomCrop
 * (crop_size, cat_max_ratio) -> RandomFlip -> PhotoMetricDistortion -> Normalize -> pad to the crop
 * size (images with 0 after normalization, labels with the ignore index, as SegDataPreProcessor).
 */
export function segTrainPipeline(o: SegPipelineOptions = {}): TransformSpec[] {
  const crop = o.cropSize ?? [512, 512];
  const specs: TransformSpec[] = [
    randomResizeRatio(o.scale ?? [2048, 512], o.ratioRange ?? [0.5, 2.0]),
    randomCrop(crop, o.catMaxRatio ?? 0.75, o.ignoreIndex ?? 255),
    randomFlip(o.flipProb ?? 0.5),
  ];
  if (o.photometric ?? true) specs.push(photometricDistortion());
  specs.push(normalize(o.mean ?? IMAGENET_MEAN, o.std ?? IMAGENET_STD), pad(o.padDivisor ?? 1, crop));
  return specs;
}

/** mmseg's test pipeline: Resize(scale, keep_ratio) -> Normalize -> Pad(divisor); labels stay at the original size. */
export function segTestPipeline(o: Pick<SegPipelineOptions, 'scale' | 'mean' | 'std' | 'padDivisor'> = {}): TransformSpec[] {
  return [resize(o.scale ?? [2048, 512]), normalize(o.mean ?? IMAGENET_MEAN, o.std ?? IMAGENET_STD), pad(o.padDivisor ?? 32)];
}
