export type { DetectionBatch, DetectionTargets, DetectionMeta, Detections, LossDict } from './types.js';
export { SeededRng } from './rng.js';
export { numBoxes, boxArea, boxOverlaps, boxIou, clipBoxes, selectBoxes, boxesToOriginalImage } from './boxes.js';
export { DeltaXYWHCoder, type DeltaCoderOptions, type Vec4 } from './box-coder.js';
export { AnchorGenerator, type AnchorGeneratorOptions } from './anchors.js';
export { MaxIoUAssigner, type MaxIoUAssignerOptions, type AssignResult } from './assigner.js';
export { RandomSampler, type RandomSamplerOptions, type SamplingResult } from './sampler.js';
export { nms, batchedNms, argsortDesc } from './nms.js';
export { roiAlignForwardHost, roiAlignBackwardHost, multiLevelRoiAlign, mapRoiLevels, type RoiAlignOptions, type MultiLevelRoiAlignOptions } from './roi-align.js';
export { pasteMask, pasteMasks } from './mask-paste.js';
export { instanceBitmap, maskTargets } from './mask-targets.js';
export { masksToRle } from './rle.js';
export { bceWithLogits, sigmoidFocalLoss, l1Loss, weightedCrossEntropy, totalLoss, type FocalLossOptions } from './losses.js';
export { ConvModule, ConvTranspose2x2, subsample2, normalInit, xavierUniformInit, kaimingNormalInit } from './nn.js';
export { FPN, fpnOutputInfo, type FpnConfig } from './fpn.js';
export { RetinaHead, type RetinaHeadConfig, type DenseTestConfig } from './retina-head.js';
export { RpnHead, type RpnHeadConfig, type ProposalConfig, type Proposals } from './rpn-head.js';
export { BBoxHead, type BBoxHeadConfig } from './bbox-head.js';
export { MaskHead, type MaskHeadConfig } from './mask-head.js';
export { RoiHead, type RoiHeadConfig } from './roi-head.js';
export { Detector, type PredictOptions } from './detector.js';
export { RetinaNet } from './retinanet.js';
export { MaskRCNN } from './mask-rcnn.js';
export { createDetector } from './create.js';
export {
  retinanetFpn1x,
  maskRcnnFpn1x,
  maskRcnnLite,
  getPreset,
  listPresets,
  DETECTION_PRESETS,
  type DetectorConfig,
  type RetinaNetConfig,
  type MaskRcnnConfig,
  type BackboneConfig,
  type PresetOptions,
  type RetinaHeadSettings,
  type RpnHeadSettings,
  type RoiHeadSettings,
} from './config.js';
