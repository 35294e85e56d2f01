// The user-facing API: datasets, the loader, the train / test pipelines, synthetic data sets and
// pictures of samples. Lower-level pieces are under subpaths: '@partialnet/data/internals'
// (kernels, per-sample transforms, samplers, worker pool, shape rendering, drawing primitives),
// '@partialnet/data/boxes', '@partialnet/data/masks' and '@partialnet/data/tensor'. The seeded
// generator is core's (`Rng`, `deriveSeed` from '@partialnet/core').
export type { RgbImage, RleLike, RecordMask, SampleRecord, PolygonMask, BitmapMask, InstanceMask, LabelMap, Targets, ImageMeta } from './types.js';
export { decodeImage, decodeLabelMap, encodeImage, encodeLabelMap, ImageLoadError, type DecodeContext } from './decode.js';
export {
  IMAGENET_MEAN,
  IMAGENET_STD,
  resize,
  randomResizeRatio,
  randomCrop,
  randomFlip,
  normalize,
  pad,
  photometricDistortion,
  trainPipeline,
  testPipeline,
  maskToOriginal,
  type TransformSpec,
  type ResizeSpec,
  type CropSpec,
  type FlipSpec,
  type NormalizeSpec,
  type PadSpec,
  type PhotometricSpec,
  type PipelineOptions,
} from './transforms.js';
export { boxesToOriginal } from './boxes.js';
export { splitBatch, type Batch, type CollateOptions } from './collate.js';
export { reduceZeroLabel } from './sample.js';
export { segTrainPipeline, segTestPipeline, type SegPipelineOptions } from './semantic-pipeline.js';
export { openSemanticSplit, detectSemanticLayout, ADE20K_CLASSES, type SemanticSplit, type SemanticLayout, type OpenSemanticOptions } from './semantic-layouts.js';
export { DataLoader, type Dataset, type DataLoaderOptions, type LoaderStats } from './loader.js';
export {
  CocoDataset,
  SemanticDataset,
  ImageFolderDataset,
  RecordDataset,
  type CocoInstancesLike,
  type CocoDatasetOptions,
  type DroppedAnnotation,
  type SemanticDatasetOptions,
} from './datasets.js';
export { resolveSplit, type SplitFiles } from './splits.js';
export { openCocoDir, drawBatch } from './show.js';
export { drawTargets, type DrawTargetsOptions } from './draw.js';
export { SHAPE_CATEGORIES, writeShapesDataset, type ShapeName, type ShapesOptions, type ShapesManifest } from './synth.js';
export { writeShapesClassification, type ShapesClassificationOptions, type ShapesClassificationSummary } from './synth-classification.js';
export { ClassificationSplit, type ClassificationSource } from './classification-split.js';
export {
  classificationTrainBatches,
  classificationEvalBatches,
  type ClassificationBatch,
  type ClassificationTrainOptions,
  type ClassificationEpochs,
} from './classification-batches.js';
export { mixTargets, type MixOptions } from './mix.js';
