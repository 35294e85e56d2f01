import type { DetectorConfig, MaskRcnnConfig, RetinaNetConfig } from './config.js';
import { getPreset } from './config.js';
import { MaskRCNN } from './mask-rcnn.js';
import { RetinaNet } from './retinanet.js';

/** Builds the detector a config (or a preset name) describes. */
export function createDetector(config: RetinaNetConfig): RetinaNet;
export function createDetector(config: MaskRcnnConfig): MaskRCNN;
export function createDetector(config: DetectorConfig | string): RetinaNet | MaskRCNN;
export function createDetector(config: DetectorConfig | string): RetinaNet | MaskRCNN {
  const c = typeof config === 'string' ? getPreset(config) : config;
  return c.kind === 'retinanet' ? new RetinaNet(c) : new MaskRCNN(c);
}
