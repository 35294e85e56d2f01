export { PartialNet, MIN_INPUT_SIZE, type CreateOptions, type FeatureInfo } from './partialnet.js';
export { PARTIALNET_PRESETS, resolveConfig, stageWidth, blockNDiv, isVariant, type PartialNetConfig, type PartialNetVariant } from './config.js';
export { PartialNetBlock, type MixerKind } from './block.js';
export { PartialConv } from './partial-conv.js';
export { PatChannel, StyleChannelAttention } from './pat-ch.js';
export { PatSelfAttention, RpeAttention } from './pat-sf.js';
export { PatSpatial } from './pat-sp.js';
export { Mlp } from './mlp.js';
export { IRPE, irpeBucket, irpeBucketIds, irpeBias } from './irpe.js';
export { fuseStateDict } from './fuse.js';
export {
  DPConv,
  dpconvLayers,
  setDPConvEpoch,
  steSign,
  kron,
  gateMask,
  kroneckerMaskHost,
  gateStates,
  cDivOf,
  firstIllegalGate,
  assertDPConvWidth,
  syncDPConv,
  type DPConvOptions,
} from './dpconv.js';
export { dpconvLosses, dpconvLossTerms, combineDPConvLoss, complexityExponent, type DPConvLossOptions, type DPConvLosses } from './dpconv-loss.js';
export { bakeSplits, bakeSplitsDetailed, learnedSplits, learnedNDivPerBlock, formatSplitTable, type LearnedSplit, type BakeResult, type SplitTableOptions } from './dpconv-bake.js';
// Weights I/O lives in @partialnet/core; re-exported so the backbone's documented API is one import.
export { loadSafetensors, saveSafetensors } from '@partialnet/core';
export { softCrossEntropy, topKCorrect, smoothOneHot } from './classification.js';
