// '@partialnet/data/internals': the pieces the loader and pipelines are built from, for code that
// builds its own pipeline or draws its own pictures.
export type { PhotometricParams } from './types.js';
export { decodePngIndices, isPng, PngIndexError, type PngHeader, type PngIndices } from './png-indices.js';
export { renderInto, resizeRgb, resizeNearest, resizeLabelMap, flipMap, normalizeTable } from './kernels.js';
export {
  keepRatioSize,
  resizeSample,
  flipSample,
  applyPhotometric,
  applyTransforms,
  chooseCrop,
  cropSample,
  type CropWindow,
  renderFloat,
  renderRgb,
  type LazyImage,
  type RenderedImage,
  type Sample,
} from './transforms.js';
export { loadSample, makeSample, recordTargets } from './sample.js';
export { collate } from './collate.js';
export { epochBatches, aspectRatioGroups, type SamplerOptions } from './sampler.js';
export { WorkerPool, workerEntry } from './pool.js';
export { shapePolygon, renderShapesImage, type ShapeInstance, type ShapesImage } from './synth.js';
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
export { mixImages, mixEnabled, sampleBeta, type MixResult } from './mix.js';
export { drawBox, drawText, overlayMask, labelColor, type Color } from './draw.js';
export { batchImageRgb } from './show.js';
