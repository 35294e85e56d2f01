// '@partialnet/backbone/layers': PartialNet's building blocks and config arithmetic, for code that
// composes or inspects the network below the PartialNet class.
export { resolveConfig, stageWidth, blockNDiv } from './config.js';
export { PartialNetBlock, type MixerKind } from './block.js';
export { PartialConv } from './partial-conv.js';
export { PatChannel, StyleChannelAttention } from './pat-ch.js';
export { PatSelfAttention, RpeAttention } from './pat-sf.js';
export { PatSpatial } from './pat-sp.js';
export { Mlp } from './mlp.js';
export { IRPE, irpeBucket, irpeBucketIds, irpeBias, irpeBucketIdsOnnx } from './irpe.js';
export type { OnnxMapSize } from './partial-conv.js';
export { fuseStateDict } from './fuse.js';
