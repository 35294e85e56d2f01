// The user-facing API: build a PartialNet by name or config (like timm's create_model), load and
// save weights, and the DPConv split search's training hooks. Building blocks are in
// '@partialnet/backbone/layers', DPConv internals in '@partialnet/backbone/dpconv'.
export { PartialNet, MIN_INPUT_SIZE, type CreateOptions, type FeatureInfo } from './partialnet.js';
export { PARTIALNET_PRESETS, CLASSIFICATION_VARIANTS, DETECTION_BACKBONE_VARIANTS, PARTIALNET_CONFIG_FIELDS, isVariant, listVariants, type PartialNetConfig, type PartialNetVariant } from './config.js';
export { setDPConvEpoch, syncDPConv } from './dpconv.js';
export { dpconvLossTerms, type DPConvLossOptions } from './dpconv-loss.js';
export { bakeSplits, learnedSplits, formatSplitTable, type LearnedSplit } from './dpconv-bake.js';
export { topKCorrect, smoothOneHot } from './classification.js';
// Weights I/O lives in @partialnet/core; re-exported so the backbone's documented API is one import.
export { loadSafetensors, saveSafetensors, loadWeights } from '@partialnet/core';
export { exportPartialNetOnnx, onnxLogits, ONNX_META, type PartialNetOnnx, type LogitsFn } from './onnx.js';
export type { PartialNetOnnxOptions } from './partialnet.js';
