// The user-facing model API (like torchvision's detection builders): presets, `createDetector`,
// the detector classes and the batch / detection types. Building blocks (FPN, heads, layers,
// losses) are under '@partialnet/detection/layers'; box coding, anchors, assignment, sampling, NMS,
// RoIAlign and mask paste-back under '@partialnet/detection/ops'.
export type { DetectionBatch, DetectionTargets, DetectionMeta, Detections, LossDict } from './types.js';
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
export { totalLoss } from './losses.js';
export { detectionMasksToRle } from './rle.js';
export { exportDetectorOnnx, denseOutputsToNhwc, predictWithOnnx, type DetectorOnnx } from './onnx.js';
