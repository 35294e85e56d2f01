import type { ActivationName } from '@partialnet/core';

/** Everything that defines a PartialNet. Field names follow the issue's custom-config contract. */
export interface PartialNetConfig {
  /** Width of stage 1; stage i has `embedDim * 2^i` channels. */
  embedDim: number;
  /** Blocks per stage (four stages). */
  depths: readonly number[];
  act: ActivationName;
  /** PAT_sp: partial spatial attention appended to every MLP (T1 only among the presets). */
  spatialAttn: boolean;
  /** PAT_ch in stages 1-3 and PAT_sf in stage 4; plain partial convolution when false. */
  channelAttn: boolean;
  /** Classes of the classification head; 0 builds the backbone without a head. */
  numClasses: number;
  /** Width of the 1x1 conv between global pooling and the classifier. */
  featureDim: number;
  mlpRatio: number;
  /** The partial convolution sees the first C / nDiv channels. */
  nDiv: number;
  /** Stochastic depth rate of the last block; rates grow linearly from 0 across blocks. */
  dropPath: number;
  /** Attention heads of PAT_sf (the official code uses 4: its `patnet_t0` flag is set in every cfg). */
  numHeads: number;
  /**
   * DPConv (the official `auto_div`): every block's token mixer is a DPConv that learns its split.
   * Stage widths must be powers of two. Default false.
   */
  autoDiv?: boolean;
  /** Epoch at which the DPConv search starts (the official `pre_epoch`). Default 0. */
  preEpoch?: number;
  /** |g| of the DPConv gates at init (official 1e-8). */
  gateInitScale?: number;
  /** Per-block n_div, `[stage][block]` (what `bakeSplits` writes); overrides `nDiv` where given. */
  nDivPerBlock?: readonly (readonly number[])[];
}

/**
 * `t0`..`l`: the official classification cfgs. `s-det`, `m-det`, `l-det`: the official repository's
 * detection backbones (`detection/backbones/partialnet.py`, `PartialNet_s/m/l`), which differ from
 * the classification S/M/L: wider and deeper (embed 128/144/192, depths 1-2-13-2 and 3-4-18-3),
 * PAT_sp on (the model's default `use_spatial_attn=True`, which those builders do not override),
 * drop path 0.15/0.2/0.3. Checkpoints of the official mmdet configs load into these 1:1.
 */
export type PartialNetVariant = 't0' | 't1' | 't2' | 's' | 'm' | 'l' | 's-det' | 'm-det' | 'l-det';

/** The classification variants (official ImageNet cfgs). */
export const CLASSIFICATION_VARIANTS = ['t0', 't1', 't2', 's', 'm', 'l'] as const satisfies readonly PartialNetVariant[];
/** The official detection backbones. */
export const DETECTION_BACKBONE_VARIANTS = ['s-det', 'm-det', 'l-det'] as const satisfies readonly PartialNetVariant[];

const COMMON = { numClasses: 1000, featureDim: 1280, mlpRatio: 2, nDiv: 4, channelAttn: true, numHeads: 4 } as const;

/**
 * The official cfg values. drop_path rates are those of the official training configs; they
 * only matter in training.
 */
export const PARTIALNET_PRESETS: Readonly<Record<PartialNetVariant, PartialNetConfig>> = {
  t0: { ...COMMON, embedDim: 32, depths: [1, 2, 8, 2], act: 'gelu', spatialAttn: false, dropPath: 0.0 },
  t1: { ...COMMON, embedDim: 48, depths: [1, 2, 8, 2], act: 'gelu', spatialAttn: true, dropPath: 0.02 },
  t2: { ...COMMON, embedDim: 64, depths: [2, 2, 6, 4], act: 'relu', spatialAttn: false, dropPath: 0.05 },
  s: { ...COMMON, embedDim: 96, depths: [2, 2, 9, 4], act: 'relu', spatialAttn: false, dropPath: 0.1 },
  m: { ...COMMON, embedDim: 128, depths: [2, 3, 16, 4], act: 'relu', spatialAttn: false, dropPath: 0.2 },
  l: { ...COMMON, embedDim: 160, depths: [2, 3, 20, 4], act: 'relu', spatialAttn: false, dropPath: 0.3 },
  's-det': { ...COMMON, embedDim: 128, depths: [1, 2, 13, 2], act: 'relu', spatialAttn: true, dropPath: 0.15 },
  'm-det': { ...COMMON, embedDim: 144, depths: [3, 4, 18, 3], act: 'relu', spatialAttn: true, dropPath: 0.2 },
  'l-det': { ...COMMON, embedDim: 192, depths: [3, 4, 18, 3], act: 'relu', spatialAttn: true, dropPath: 0.3 },
};

/** Every field a PartialNet config may hold; anything else is a typo and an error. */
export const PARTIALNET_CONFIG_FIELDS: readonly (keyof PartialNetConfig)[] = [
  'embedDim', 'depths', 'act', 'spatialAttn', 'channelAttn', 'numClasses', 'featureDim', 'mlpRatio', 'nDiv', 'dropPath', 'numHeads',
  'autoDiv', 'preEpoch', 'gateInitScale', 'nDivPerBlock',
];

export function isVariant(name: string): name is PartialNetVariant {
  return Object.prototype.hasOwnProperty.call(PARTIALNET_PRESETS, name);
}

/** The preset names, smallest first (timm's list_models for this family). */
export function listVariants(): PartialNetVariant[] {
  return Object.keys(PARTIALNET_PRESETS) as PartialNetVariant[];
}

function rejectUnknownKeys(config: object, what: string): void {
  const unknown = Object.keys(config).filter((k) => !(PARTIALNET_CONFIG_FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new Error(`PartialNet config: ${what}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (known: ${PARTIALNET_CONFIG_FIELDS.join(', ')})`);
  }
}

/** Fills a partial config from a preset (default t0) and checks that the result can be built. */
export function resolveConfig(base: PartialNetVariant | Partial<PartialNetConfig>, overrides: Partial<PartialNetConfig> = {}): PartialNetConfig {
  let preset: PartialNetConfig;
  let custom: Partial<PartialNetConfig>;
  if (typeof base === 'string') {
    const key = base.toLowerCase();
    if (!isVariant(key)) {
      throw new Error(`PartialNet: unknown variant '${base}'; expected one of ${Object.keys(PARTIALNET_PRESETS).join(', ')} or a config object`);
    }
    preset = PARTIALNET_PRESETS[key];
    custom = {};
  } else {
    preset = PARTIALNET_PRESETS.t0;
    custom = base;
  }
  rejectUnknownKeys(custom, 'config');
  rejectUnknownKeys(overrides, 'options');
  const config: PartialNetConfig = { ...preset, ...custom, ...overrides, depths: [...(overrides.depths ?? custom.depths ?? preset.depths)] };
  const perBlock = overrides.nDivPerBlock ?? custom.nDivPerBlock;
  if (perBlock) config.nDivPerBlock = perBlock.map((row) => [...row]);
  validateConfig(config);
  return config;
}

function validateConfig(c: PartialNetConfig): void {
  const fail = (field: string, expected: string, got: unknown) => {
    throw new Error(`PartialNet config: ${field}: expected ${expected}, got ${JSON.stringify(got)}`);
  };
  const positiveInt = (v: number) => Number.isInteger(v) && v > 0;
  if (!positiveInt(c.embedDim)) fail('embedDim', 'a positive integer', c.embedDim);
  if (c.depths.length !== 4 || !c.depths.every(positiveInt)) fail('depths', '4 positive integers', c.depths);
  if (c.act !== 'gelu' && c.act !== 'relu') fail('act', "'gelu' or 'relu'", c.act);
  if (!Number.isInteger(c.numClasses) || c.numClasses < 0) fail('numClasses', 'an integer >= 0', c.numClasses);
  if (!positiveInt(c.featureDim)) fail('featureDim', 'a positive integer', c.featureDim);
  if (!(c.mlpRatio > 0) || !Number.isInteger(c.embedDim * c.mlpRatio)) fail('mlpRatio', 'a ratio giving integer widths', c.mlpRatio);
  if (!positiveInt(c.nDiv) || Math.floor(c.embedDim / c.nDiv) < 1) fail('nDiv', `an integer in [1, embedDim]`, c.nDiv);
  if (!(c.dropPath >= 0 && c.dropPath < 1)) fail('dropPath', 'a rate in [0, 1)', c.dropPath);
  if (c.nDivPerBlock !== undefined) {
    const rows = c.nDivPerBlock;
    if (!Array.isArray(rows) || rows.length !== 4 || rows.some((row, i) => !Array.isArray(row) || row.length !== c.depths[i])) {
      fail('nDivPerBlock', `4 rows of ${c.depths.join(', ')} entries (one per block)`, rows);
    }
    rows.forEach((row, i) =>
      row.forEach((n: number, j: number) => {
        if (!positiveInt(n) || n > stageWidth(c, i)) fail(`nDivPerBlock[${i}][${j}]`, `an integer in [1, ${stageWidth(c, i)}]`, n);
      }),
    );
  }
  if (c.preEpoch !== undefined && !(Number.isInteger(c.preEpoch) && c.preEpoch >= 0)) fail('preEpoch', 'an integer >= 0', c.preEpoch);
  if (c.gateInitScale !== undefined && !(c.gateInitScale > 0 && c.gateInitScale < 1)) fail('gateInitScale', 'a value in (0, 1)', c.gateInitScale);
  if (c.autoDiv) {
    // DPConv replaces the whole mixer (no attention branch): its K = log2(C) gates need 2^k widths.
    for (let i = 0; i < 4; i++) {
      const width = stageWidth(c, i);
      if ((width & (width - 1)) !== 0) {
        throw new Error(`PartialNet config: autoDiv: DPConv needs power-of-two widths, but stage ${i + 1} (stages.${2 * i}.blocks.*.spatial_mixing) has width ${width} (embedDim ${c.embedDim}); use an embedDim that is a power of two`);
      }
    }
    return;
  }
  if (c.channelAttn) {
    for (let j = 0; j < c.depths[3]!; j++) {
      const lastWidth = c.embedDim * 8;
      const attnWidth = lastWidth - Math.floor(lastWidth / blockNDiv(c, 3, j));
      if (!positiveInt(c.numHeads) || attnWidth % c.numHeads !== 0) {
        fail('numHeads', `a divisor of the stage-4 attention width ${attnWidth}${c.nDivPerBlock ? ` (block ${j})` : ''}`, c.numHeads);
      }
    }
  }
}

/** n_div of block `j` of stage `i` (0-based): `nDivPerBlock` where given, else `nDiv`. */
export function blockNDiv(config: PartialNetConfig, i: number, j: number): number {
  return config.nDivPerBlock?.[i]?.[j] ?? config.nDiv;
}

/** Channels of stage `i` (0-based). */
export function stageWidth(config: PartialNetConfig, i: number): number {
  return config.embedDim * 2 ** i;
}
