export type {
  RgbImage,
  RleLike,
  RecordMask,
  SampleRecord,
  PolygonMask,
  BitmapMask,
  InstanceMask,
  LabelMap,
  Targets,
  ImageMeta,
  PhotometricParams,
} from './types.js';
export { Rng, deriveSeed } from './rng.js';
export { decodeImage, decodeLabelMap, encodeImage, encodeLabelMap, ImageLoadError, type DecodeContext } from './decode.js';
export { decodePngIndices, isPng, PngIndexError, type PngHeader, type PngIndices } from './png-indices.js';
export { renderInto, resizeRgb, resizeNearest, resizeLabelMap, flipMap, normalizeTable } from './kernels.js';
export {
  IMAGENET_MEAN,
  IMAGENET_STD,
  resize,
  randomResizeRatio,
  randomCrop,
  chooseCrop,
  cropSample,
  randomFlip,
  normalize,
  pad,
  photometricDistortion,
  trainPipeline,
  testPipeline,
  keepRatioSize,
  resizeSample,
  flipSample,
  applyPhotometric,
  applyTransforms,
  renderFloat,
  renderRgb,
  boxesToOriginal,
  maskToOriginal,
  type LazyImage,
  type RenderedImage,
  type Sample,
  type TransformSpec,
  type ResizeSpec,
  type CropSpec,
  type CropWindow,
  type FlipSpec,
  type NormalizeSpec,
  type PadSpec,
  type PhotometricSpec,
  type PipelineOptions,
} from './transforms.js';
export { loadSample, makeSample, recordTargets, reduceZeroLabel } from './sample.js';
export { segTrainPipeline, segTestPipeline, type SegPipelineOptions } from './semantic-pipeline.js';
export { openSemanticSplit, detectSemanticLayout, ADE20K_CLASSES, type SemanticSplit, type SemanticLayout, type OpenSemanticOptions } from './semantic-layouts.js';
export { collate, type Batch, type CollateOptions } from './collate.js';
export { epochBatches, aspectRatioGroups, type SamplerOptions } from './sampler.js';
export { DataLoader, type Dataset, type DataLoaderOptions, type LoaderStats } from './loader.js';
export { WorkerPool, workerEntry } from './pool.js';
export {
  CocoDataset,
  SemanticDataset,
  ImageFolderDataset,
  RecordDataset,
  type CocoInstancesLike,
  type CocoDatasetOptions,
  type SemanticDatasetOptions,
} from './datasets.js';
export { polygonsToMask, rleToMask, maskToRle } from './coco-adapter.js';
export {
  SHAPE_CATEGORIES,
  shapePolygon,
  renderShapesImage,
  writeShapesDataset,
  type ShapeName,
  type ShapesOptions,
  type ShapeInstance,
  type ShapesImage,
  type ShapesManifest,
} from './synth.js';
export { writeShapesClassification, type ShapesClassificationOptions, type ShapesClassificationSummary } from './synth-classification.js';
export {
  randomResizedCropBox,
  centerCropBox,
  cropRgb,
  randomClassificationView,
  renderClassificationSample,
  type CropBox,
  type RandomResizedCropOptions,
  type ClassificationView,
  type ClassificationTrainTransform,
} from './classification-transforms.js';
export { mixImages, mixTargets, mixEnabled, sampleBeta, type MixOptions, type MixResult } from './mix.js';
export { ClassificationSplit, type ClassificationSource } from './classification-split.js';
export {
  classificationTrainBatches,
  classificationEvalBatches,
  type ClassificationBatch,
  type ClassificationTrainOptions,
  type ClassificationEpochs,
} from './classification-batches.js';
export { drawTargets, drawBox, drawText, overlayMask, instanceMaskBitmap, labelColor, type Color, type DrawTargetsOptions } from './draw.js';
export { openCocoDir, batchImageRgb, drawBatch } from './show.js';
