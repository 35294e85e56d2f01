import { hostTensor, type StateDict } from '@partialnet/core';
import type { PartialNetConfig } from './config.js';
import { dpconvLayers } from './dpconv.js';
import { PartialNet } from './partialnet.js';

/** One DPConv layer's learned split. */
export interface LearnedSplit {
  /** Dotted name of the layer, e.g. `stages.4.blocks.3.spatial_mixing`. */
  layer: string;
  /** Stage (0-based) and block within it. */
  stage: number;
  block: number;
  channels: number;
  /** Channels the partial conv sees (the `one_channel` buffer). */
  convChannels: number;
  /** C / convChannels: the learned n_div. */
  cDiv: number;
  /** Gate states s (1 = ones, 0 = identity) at the time of the call. */
  gates: number[];
}

function dpconvModel(model: PartialNet, what: string): void {
  if (!model.config.autoDiv) throw new Error(`${what}: the model has no DPConv layers (config.autoDiv is false)`);
}

/** The split each DPConv uses in eval (from its `one_channel` buffer), in stage / block order. */
export function learnedSplits(model: PartialNet): LearnedSplit[] {
  dpconvModel(model, 'learnedSplits');
  return dpconvLayers(model).map(([layer, l]) => {
    const m = /^stages\.(\d+)\.blocks\.(\d+)\./.exec(layer);
    if (!m) throw new Error(`learnedSplits: unexpected DPConv name '${layer}'`);
    const convChannels = l.convChannels;
    return { layer, stage: Number(m[1]) / 2, block: Number(m[2]), channels: l.dim, convChannels, cDiv: l.dim / convChannels, gates: l.states() };
  });
}

/** Rows of n_div per stage and block, as `PartialNetConfig.nDivPerBlock` wants them. */
export function learnedNDivPerBlock(model: PartialNet): number[][] {
  const rows: number[][] = model.config.depths.map(() => []);
  for (const s of learnedSplits(model)) rows[s.stage]![s.block] = s.cDiv;
  return rows;
}

/** Copies rows/cols [:oc, :oc] of an OIHW conv weight. */
function sliceConvWeight(w: { data: ArrayLike<number>; shape: readonly number[] }, oc: number): { data: Float32Array; shape: number[] } {
  const [, i, kh, kw] = w.shape as [number, number, number, number];
  const k = kh * kw;
  const out = new Float32Array(oc * oc * k);
  for (let a = 0; a < oc; a++) for (let b = 0; b < oc; b++) for (let t = 0; t < k; t++) out[(a * oc + b) * k + t] = w.data[(a * i + b) * k + t]!;
  return { data: out, shape: [oc, oc, kh, kw] };
}

export interface BakeResult {
  model: PartialNet;
  /** Parameters of the static model that had no counterpart and keep their initial values. */
  initialised: string[];
}

/**
 * A static PartialNet with the learned per-block n_div (`nDivPerBlock`) and the DPConv model's
 * weights: each DPConv's `conv.weight[:oc, :oc]` becomes the block's `partial_conv3.weight`,
 * everything else is copied by name. With `channelAttn: false` the result computes exactly what
 * the DPConv model computes in eval. With `channelAttn: true` it is the PATConv network with the
 * learned splits (the paper's final model): its attention branches, which the DPConv model does
 * not have, start from their initial values and are listed in `initialised` (fine-tune them).
 * The returned model is in eval mode.
 */
export async function bakeSplitsDetailed(model: PartialNet): Promise<BakeResult> {
  dpconvModel(model, 'bakeSplits');
  const splits = learnedSplits(model);
  const config: PartialNetConfig = { ...model.config, autoDiv: false, depths: [...model.config.depths], nDivPerBlock: learnedNDivPerBlock(model) };
  delete config.preEpoch;
  delete config.gateInitScale;
  const baked = PartialNet.create(config);
  const source = await model.stateDict();
  const dict: StateDict = new Map();
  const dpPrefixes = new Map(splits.map((s) => [`${s.layer}.`, s]));
  for (const [name, t] of source) {
    const prefix = [...dpPrefixes.keys()].find((p) => name.startsWith(p));
    if (!prefix) {
      dict.set(name, t);
      continue;
    }
    if (name === `${prefix}conv.weight`) {
      const s = dpPrefixes.get(prefix)!;
      const w = sliceConvWeight(t, s.convChannels);
      dict.set(`${prefix}partial_conv3.weight`, hostTensor(w.data, w.shape));
    }
  }
  const result = baked.loadStateDict(dict, { strict: false });
  const problems = [...result.unexpected, ...result.mismatched.map((m) => m.name)];
  if (problems.length > 0) throw new Error(`bakeSplits: weights that do not fit the static model: ${problems.join(', ')}`);
  return { model: baked.eval(), initialised: result.missing };
}

/** `bakeSplitsDetailed(model).model`. */
export async function bakeSplits(model: PartialNet): Promise<PartialNet> {
  return (await bakeSplitsDetailed(model)).model;
}

export interface SplitTableOptions {
  /** Input side for the FLOP figures (default 224). */
  inputSize?: number;
  /** The static split the savings are compared with (default the model's nDiv, 4 in every preset). */
  baselineNDiv?: number;
}

/**
 * The learned splits as a text table: layer, C, c_div, the 3x3 partial conv's multiply-adds at
 * `inputSize`, and the multiply-adds saved against the dense 3x3 conv and against the static
 * n_div split (negative: the layer got more expensive). FLOPs are multiply-adds, as in the paper.
 */
export function formatSplitTable(model: PartialNet, options: SplitTableOptions = {}): string {
  const size = options.inputSize ?? 224;
  const base = options.baselineNDiv ?? model.config.nDiv;
  const splits = learnedSplits(model);
  const mega = (v: number) => (v / 1e6).toFixed(2);
  const rows: string[][] = [['layer', 'C', 'c_div', 'gates', 'MFLOPs', 'saved vs dense', `saved vs n_div=${base}`]];
  let total = 0;
  let savedDense = 0;
  let savedBase = 0;
  for (const s of splits) {
    const side = Math.floor(size / (4 * 2 ** s.stage));
    const hw = side * side;
    const cost = 9 * s.convChannels ** 2 * hw;
    const dense = 9 * s.channels ** 2 * hw;
    const baseline = 9 * Math.floor(s.channels / base) ** 2 * hw;
    total += cost;
    savedDense += dense - cost;
    savedBase += baseline - cost;
    const gates = s.gates.map((g) => (g === 1 ? '1' : g === 0 ? 'I' : '?')).join('');
    rows.push([s.layer.replace('.spatial_mixing', ''), String(s.channels), String(s.cDiv), gates, mega(cost), mega(dense - cost), mega(baseline - cost)]);
  }
  rows.push(['total', '', '', '', mega(total), mega(savedDense), mega(savedBase)]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 || c === 3 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  const out = [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1, -1).map(line), widths.map((w) => '-'.repeat(w)).join('  '), line(rows[rows.length - 1]!)];
  return `${out.join('\n')}\n(MFLOPs: multiply-adds of the 3x3 partial conv at ${size}x${size}; gates: 1 = ones block, I = identity block)`;
}
