import type { PartialNetConfig, PartialNetVariant } from '@partialnet/backbone';
import type { FpnConfig } from '@partialnet/detection/layers';

export interface SegBackboneConfig {
  /** A PartialNet variant, or a full / partial custom config (as `PartialNet.create` takes). */
  variant: PartialNetVariant | Partial<PartialNetConfig>;
  /** Stochastic depth rate; default: the variant's. */
  dropPath?: number;
}

/** mmseg's FPNHead settings (the decode head of Semantic FPN). */
export interface FpnHeadSettings {
  /** Channels of every scale head and of the summed map (mmseg: 128). */
  channels: number;
  /** Dropout2d before the classifier (mmseg: 0.1). */
  dropoutRatio: number;
  /** Label that contributes neither loss nor metrics (mmseg: 255). */
  ignoreIndex: number;
  /**
   * Loss mean over the non-ignored pixels only (mmseg's avg_non_ignore); false (mmseg's default)
   * divides the summed loss by all pixels, ignored ones included.
   */
  avgNonIgnore: boolean;
  lossWeight: number;
}

/** How a whole image is predicted: in one pass, or by overlapping crops whose logits are averaged. */
export type SegTestMode = { mode: 'whole' } | { mode: 'slide'; crop: [number, number]; stride: [number, number] };

export interface SemanticFpnConfig {
  kind: 'semantic-fpn';
  numClasses: number;
  backbone: SegBackboneConfig;
  /** FPN on the four backbone levels (strides 4-32), no extra levels. */
  neck: FpnConfig;
  head: FpnHeadSettings;
  test: SegTestMode;
}

export type SegmenterConfig = SemanticFpnConfig;

export interface SegPresetOptions {
  backbone?: PartialNetVariant;
  numClasses?: number;
}

/**
 * mmseg's fpn_r50 (Semantic FPN, Kirillov et al.) as PoolFormer / PVT use it for ADE20K, on a
 * PartialNet backbone: FPN with 256 channels on strides 4-32, FPNHead with 128 channels,
 * dropout 0.1, cross-entropy with ignore index 255, whole-image inference.
 */
export function semanticFpn(options: SegPresetOptions = {}): SemanticFpnConfig {
  return {
    kind: 'semantic-fpn',
    numClasses: options.numClasses ?? 150,
    backbone: { variant: options.backbone ?? 't0' },
    neck: { outChannels: 256, startLevel: 0, numOuts: 4, extra: 'maxpool' },
    head: { channels: 128, dropoutRatio: 0.1, ignoreIndex: 255, avgNonIgnore: false, lossWeight: 1 },
    test: { mode: 'whole' },
  };
}

/**
 * The same Semantic FPN sized for CPUs: 64-channel FPN and 64-channel head (about a sixth of the
 * neck and head FLOPs). For demos and tests; not a published configuration.
 */
export function semanticFpnLite(options: SegPresetOptions = {}): SemanticFpnConfig {
  const c = semanticFpn(options);
  return { ...c, neck: { ...c.neck, outChannels: 64 }, head: { ...c.head, channels: 64 } };
}

const VARIANTS = ['t0', 't1', 't2', 's', 'm', 'l'] as const;

type PresetName = `semantic-fpn-${(typeof VARIANTS)[number]}` | `semantic-fpn-lite-${(typeof VARIANTS)[number]}`;

function buildPresets(): Record<PresetName, () => SemanticFpnConfig> {
  const out: Partial<Record<PresetName, () => SemanticFpnConfig>> = {};
  for (const v of VARIANTS) {
    out[`semantic-fpn-${v}`] = () => semanticFpn({ backbone: v });
    out[`semantic-fpn-lite-${v}`] = () => semanticFpnLite({ backbone: v });
  }
  return out as Record<PresetName, () => SemanticFpnConfig>;
}

/** Every preset by name: `semantic-fpn-<v>` and `semantic-fpn-lite-<v>` for v in t0 t1 t2 s m l. */
export const SEGMENTATION_PRESETS: Readonly<Record<PresetName, () => SemanticFpnConfig>> = buildPresets();
export type SegmentationPresetName = PresetName;

export function listSegPresets(): SegmentationPresetName[] {
  return Object.keys(SEGMENTATION_PRESETS) as SegmentationPresetName[];
}

export function isSegPreset(name: string): name is SegmentationPresetName {
  return Object.hasOwn(SEGMENTATION_PRESETS, name);
}

/** A fresh copy of a preset's config, with the class count of the data when given. */
export function getSegPreset(name: string, numClasses?: number): SemanticFpnConfig {
  if (!isSegPreset(name)) throw new Error(`unknown segmentation preset '${name}' (have ${listSegPresets().join(', ')})`);
  const c = SEGMENTATION_PRESETS[name]();
  return numClasses === undefined ? c : { ...c, numClasses };
}
