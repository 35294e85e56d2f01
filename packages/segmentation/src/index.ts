export {
  semanticFpn,
  semanticFpnLite,
  getSegPreset,
  listSegPresets,
  isSegPreset,
  SEGMENTATION_PRESETS,
  type SegmentationPresetName,
  type SemanticFpnConfig,
  type SegmenterConfig,
  type SegBackboneConfig,
  type FpnHeadSettings,
  type SegTestMode,
  type SegPresetOptions,
} from './config.js';
export { resizeBilinear } from './resize.js';
export { ConvBnRelu } from './conv-module.js';
export { FpnHead, type FpnHeadConfig } from './fpn-head.js';
export { segCrossEntropy, type SegCrossEntropyOptions } from './losses.js';
export { slideWindows, slideLogits, type LogitsFn } from './inference.js';
export { SemanticFPN, type SegBatch, type SegMeta, type SegPredictOptions, type SegPrediction, type SegLossDict } from './semantic-fpn.js';
export { createSegmenter } from './create.js';
