// '@partialnet/detection/ops': host-side detection operations (box coding, anchors, assignment,
// sampling, NMS, RoIAlign, mask targets and paste-back) and wasm's micro-batch plan. Box utilities
// are '@partialnet/data/boxes'.
export { DeltaXYWHCoder, type DeltaCoderOptions, type Vec4 } from './box-coder.js';
export { AnchorGenerator, type AnchorGeneratorOptions } from './anchors.js';
export { MaxIoUAssigner, type MaxIoUAssignerOptions, type AssignResult } from './assigner.js';
export { RandomSampler, type RandomSamplerOptions, type SamplingResult } from './sampler.js';
export { nms, batchedNms, argsortDesc } from './nms.js';
export { roiAlignForwardHost, roiAlignBackwardHost, multiLevelRoiAlign, mapRoiLevels, type RoiAlignOptions, type MultiLevelRoiAlignOptions } from './roi-align.js';
export { pasteMask, pasteMasks } from './mask-paste.js';
export { maskTargets } from './mask-targets.js';
export { microBatchFor, WASM_PIXELS_PER_STEP } from './wasm-batch.js';
