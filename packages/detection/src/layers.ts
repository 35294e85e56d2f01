// '@partialnet/detection/layers': the modules detectors are assembled from, and their losses.
export { FPN, fpnOutputInfo, type FpnConfig } from './fpn.js';
export { RetinaHead, type RetinaHeadConfig, type DenseTestConfig } from './retina-head.js';
export { RpnHead, type RpnHeadConfig, type ProposalConfig, type Proposals } from './rpn-head.js';
export { BBoxHead, type BBoxHeadConfig } from './bbox-head.js';
export { MaskHead, type MaskHeadConfig } from './mask-head.js';
export { RoiHead, type RoiHeadConfig } from './roi-head.js';
export { ConvModule, ConvTranspose2x2, subsample2, normalInit, xavierUniformInit, kaimingNormalInit } from './nn.js';
export { bceWithLogits, bceWithLogitsLoss, sigmoidFocalLoss, sigmoidFocalLossByLabels, l1Loss, weightedCrossEntropy, type FocalLossOptions } from './losses.js';
