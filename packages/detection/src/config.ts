import type { PartialNetConfig, PartialNetVariant } from '@partialnet/backbone';
import type { FpnConfig } from './fpn.js';
import type { RetinaHeadConfig } from './retina-head.js';
import type { RoiHeadConfig } from './roi-head.js';
import type { RpnHeadConfig } from './rpn-head.js';

export interface BackboneConfig {
  /** The preset the backbone starts from: a classification variant or an official detection backbone (`s-det` ...). */
  variant: PartialNetVariant;
  /**
   * Any PartialNet config fields, applied over the variant's: a custom width and depth, PAT_sp,
   * a DPConv-baked `nDivPerBlock` (what `bakeSplits` writes). `numClasses` is always 0 here.
   */
  config?: Partial<PartialNetConfig>;
  /** Stochastic depth rate; default: the variant's. */
  dropPath?: number;
  /**
   * Frozen backbone stages as mmdet's frozen_stages: -1 (default) none, 0 the patch embedding,
   * k the patch embedding and stages 1..k (with the merges between them). Frozen parameters are
   * left out of parameters() and their BatchNorms stay in inference mode.
   */
  frozenStages?: number;
}

/** Head configs without what the model fills in from the neck / the class count. */
export type RetinaHeadSettings = Omit<RetinaHeadConfig, 'numClasses' | 'inChannels'>;
export type RpnHeadSettings = Omit<RpnHeadConfig, 'inChannels'>;
export type RoiHeadSettings = Omit<RoiHeadConfig, 'numClasses' | 'inChannels'>;

export interface RetinaNetConfig {
  kind: 'retinanet';
  numClasses: number;
  backbone: BackboneConfig;
  neck: FpnConfig;
  head: RetinaHeadSettings;
}

export interface MaskRcnnConfig {
  kind: 'mask-rcnn';
  numClasses: number;
  backbone: BackboneConfig;
  neck: FpnConfig;
  rpn: RpnHeadSettings;
  roi: RoiHeadSettings;
}

export type DetectorConfig = RetinaNetConfig | MaskRcnnConfig;

export interface PresetOptions {
  backbone?: PartialNetVariant;
  numClasses?: number;
}

/** mmdet's retinanet_r50_fpn_1x settings on a PartialNet backbone. */
export function retinanetFpn1x(options: PresetOptions = {}): RetinaNetConfig {
  return {
    kind: 'retinanet',
    numClasses: options.numClasses ?? 80,
    backbone: { variant: options.backbone ?? 't0' },
    neck: { outChannels: 256, startLevel: 1, numOuts: 5, extra: 'on_input' },
    head: {
      featChannels: 256,
      stackedConvs: 4,
      anchor: { octaveBaseScale: 4, scalesPerOctave: 3, ratios: [0.5, 1, 2], strides: [8, 16, 32, 64, 128] },
      assigner: { posIouThr: 0.5, negIouThr: 0.4, minPosIou: 0, matchLowQuality: true, ignoreIofThr: -1 },
      coder: { means: [0, 0, 0, 0], stds: [1, 1, 1, 1] },
      focal: { alpha: 0.25, gamma: 2 },
      priorProb: 0.01,
      test: { nmsPre: 1000, scoreThr: 0.05, iouThr: 0.5, maxPerImg: 100 },
    },
  };
}

/**
 * mmdet's mask_rcnn_r50_fpn_1x settings on a PartialNet backbone (the base of the official
 * PartialNet detection configs). RPN proposals as mmdet 2.x: 2000 boxes per level before NMS and
 * 1000 after it in training, 1000 / 1000 in testing.
 */
export function maskRcnnFpn1x(options: PresetOptions = {}): MaskRcnnConfig {
  return {
    kind: 'mask-rcnn',
    numClasses: options.numClasses ?? 80,
    backbone: { variant: options.backbone ?? 't0' },
    neck: { outChannels: 256, startLevel: 0, numOuts: 5, extra: 'maxpool' },
    rpn: {
      featChannels: 256,
      anchor: { scales: [8], ratios: [0.5, 1, 2], strides: [4, 8, 16, 32, 64] },
      assigner: { posIouThr: 0.7, negIouThr: 0.3, minPosIou: 0.3, matchLowQuality: true, ignoreIofThr: -1 },
      sampler: { num: 256, posFraction: 0.5, negPosUb: -1, seed: 0 },
      coder: { means: [0, 0, 0, 0], stds: [1, 1, 1, 1] },
      train: { nmsPre: 2000, maxPerImg: 1000, iouThr: 0.7 },
      test: { nmsPre: 1000, maxPerImg: 1000, iouThr: 0.7 },
    },
    roi: {
      strides: [4, 8, 16, 32],
      finestScale: 56,
      samplingRatio: 0,
      bbox: {
        roiSize: 7,
        fcChannels: 1024,
        numSharedFcs: 2,
        coder: { means: [0, 0, 0, 0], stds: [0.1, 0.1, 0.2, 0.2] },
        assigner: { posIouThr: 0.5, negIouThr: 0.5, minPosIou: 0.5, matchLowQuality: true, ignoreIofThr: -1 },
        sampler: { num: 512, posFraction: 0.25, negPosUb: -1, seed: 1 },
        addGtAsProposals: true,
      },
      mask: { roiSize: 14, convChannels: 256, numConvs: 4 },
      test: { scoreThr: 0.05, iouThr: 0.5, maxPerImg: 100, maskThr: 0.5 },
    },
  };
}

/**
 * A CPU-sized Mask R-CNN for small images and few classes (the built-in demo): 64-channel FPN and
 * RPN, fewer proposals, 128 sampled RoIs, a 256-d box head and a two-conv 64-channel mask head.
 * A training step of the mmdet-sized model at 256x256, batch 2, takes ~15 s on two cores with
 * wasm, mostly in the 512-RoI box head and the 256-channel mask head; this one takes ~2 s.
 */
export function maskRcnnLite(options: PresetOptions = {}): MaskRcnnConfig {
  const base = maskRcnnFpn1x(options);
  const channels = 64;
  return {
    ...base,
    neck: { ...base.neck, outChannels: channels },
    rpn: {
      ...base.rpn,
      featChannels: channels,
      train: { nmsPre: 1000, maxPerImg: 500, iouThr: 0.7 },
      test: { nmsPre: 500, maxPerImg: 200, iouThr: 0.7 },
    },
    roi: {
      ...base.roi,
      bbox: { ...base.roi.bbox, fcChannels: 256, sampler: { ...base.roi.bbox.sampler, num: 128 } },
      mask: { roiSize: 14, convChannels: channels, numConvs: 2 },
    },
  };
}

const VARIANTS: PartialNetVariant[] = ['t0', 't1', 't2', 's', 'm', 'l'];
/** The official repository's detection backbones (its mmdet configs train Mask R-CNN on them). */
const DETECTION_VARIANTS: PartialNetVariant[] = ['s-det', 'm-det', 'l-det'];

/**
 * Every named preset: `retinanet-<variant>`, `mask-rcnn-<variant>` and `mask-rcnn-lite-<variant>`
 * for the classification variants, and `mask-rcnn-<v>-det` / `retinanet-<v>-det` on the official
 * detection backbones (`mask-rcnn-s-det` is the official `mask_rcnn_partialnet_s_fpn_1x_coco`).
 */
export const DETECTION_PRESETS: Readonly<Record<string, (options?: Omit<PresetOptions, 'backbone'>) => DetectorConfig>> = Object.fromEntries([
  ...VARIANTS.flatMap((v) => [
    [`retinanet-${v}`, (o: Omit<PresetOptions, 'backbone'> = {}) => retinanetFpn1x({ ...o, backbone: v })],
    [`mask-rcnn-${v}`, (o: Omit<PresetOptions, 'backbone'> = {}) => maskRcnnFpn1x({ ...o, backbone: v })],
    [`mask-rcnn-lite-${v}`, (o: Omit<PresetOptions, 'backbone'> = {}) => maskRcnnLite({ ...o, backbone: v })],
  ]),
  ...DETECTION_VARIANTS.flatMap((v) => [
    [`retinanet-${v}`, (o: Omit<PresetOptions, 'backbone'> = {}) => retinanetFpn1x({ ...o, backbone: v })],
    [`mask-rcnn-${v}`, (o: Omit<PresetOptions, 'backbone'> = {}) => maskRcnnFpn1x({ ...o, backbone: v })],
  ]),
]);

export function listPresets(): string[] {
  return Object.keys(DETECTION_PRESETS).sort();
}

/** The config of a named preset; unknown names fail with the list of known ones. */
export function getPreset(name: string, options: Omit<PresetOptions, 'backbone'> = {}): DetectorConfig {
  const make = DETECTION_PRESETS[name];
  if (!make) throw new Error(`unknown detection preset '${name}'; known presets: ${listPresets().join(', ')}`);
  return make(options);
}
