import { BN_EPS, hostTensor, type HostTensor, type StateDict } from '@partialnet/core';
import type { PartialNetConfig } from './config.js';

interface BnAffine {
  scale: Float64Array;
  shift: Float64Array;
}

function take(dict: StateDict, name: string): HostTensor {
  const t = dict.get(name);
  if (!t) throw new Error(`fuse: '${name}' is missing from the state dict`);
  dict.delete(name);
  return t;
}

/** Removes a BatchNorm's four tensors from `dict` and returns its inference map x*scale + shift. */
function takeBatchNorm(dict: StateDict, prefix: string): BnAffine {
  const w = take(dict, `${prefix}.weight`).data;
  const b = take(dict, `${prefix}.bias`).data;
  const mean = take(dict, `${prefix}.running_mean`).data;
  const variance = take(dict, `${prefix}.running_var`).data;
  dict.delete(`${prefix}.num_batches_tracked`);
  const scale = new Float64Array(w.length);
  const shift = new Float64Array(w.length);
  for (let c = 0; c < w.length; c++) {
    scale[c] = w[c]! / Math.sqrt(variance[c]! + BN_EPS);
    shift[c] = b[c]! - mean[c]! * scale[c]!;
  }
  return { scale, shift };
}

/** conv -> BN becomes one conv with bias: W'[o] = W[o] * s[o], b' = b * s + t. */
function foldFollowing(dict: StateDict, conv: string, bn: string): void {
  const { scale, shift } = takeBatchNorm(dict, bn);
  const w = dict.get(`${conv}.weight`)!;
  const perOut = w.data.length / scale.length;
  const weight = new Float32Array(w.data.length);
  for (let i = 0; i < weight.length; i++) weight[i] = w.data[i]! * scale[Math.floor(i / perOut)]!;
  const oldBias = dict.get(`${conv}.bias`)?.data;
  const bias = new Float32Array(scale.length);
  for (let o = 0; o < bias.length; o++) bias[o] = (oldBias ? oldBias[o]! * scale[o]! : 0) + shift[o]!;
  dict.set(`${conv}.weight`, hostTensor(weight, w.shape));
  dict.set(`${conv}.bias`, hostTensor(bias, [bias.length]));
}

/** BN -> 1x1 conv becomes one conv with bias: W'[o,i] = W[o,i] * s[i], b'[o] = sum_i W[o,i] t[i]. */
function foldPreceding(dict: StateDict, bn: string, conv: string): void {
  const { scale, shift } = takeBatchNorm(dict, bn);
  const w = dict.get(`${conv}.weight`)!;
  const [outC, inC] = w.shape as [number, number];
  if (w.data.length !== outC * inC) throw new Error(`fuse: ${conv} must be a 1x1 conv to absorb the BatchNorm before it`);
  const weight = new Float32Array(w.data.length);
  const bias = new Float32Array(outC);
  for (let o = 0; o < outC; o++) {
    let acc = 0;
    for (let i = 0; i < inC; i++) {
      const v = w.data[o * inC + i]!;
      weight[o * inC + i] = v * scale[i]!;
      acc += v * shift[i]!;
    }
    bias[o] = acc;
  }
  dict.set(`${conv}.weight`, hostTensor(weight, w.shape));
  dict.set(`${conv}.bias`, hostTensor(bias, [outC]));
}

/** A BatchNorm with no linear neighbour to absorb it becomes a per-channel affine map. */
function toAffine(dict: StateDict, bn: string): void {
  const { scale, shift } = takeBatchNorm(dict, bn);
  dict.set(`${bn}.scale`, hostTensor(Float32Array.from(scale), [scale.length]));
  dict.set(`${bn}.shift`, hostTensor(Float32Array.from(shift), [shift.length]));
}

/**
 * Rewrites an (unfused) PartialNet state dict into the fused model's: the names and shapes that
 * `new PartialNet(config, true)` expects. Pure host arithmetic in float64, rounded once to float32.
 */
export function fuseStateDict(source: StateDict, config: PartialNetConfig): StateDict {
  const dict: StateDict = new Map(source);
  foldFollowing(dict, 'patch_embed.proj', 'patch_embed.norm');
  for (const merge of [1, 3, 5]) foldFollowing(dict, `stages.${merge}.reduction`, `stages.${merge}.norm`);
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < config.depths[i]!; j++) {
      const block = `stages.${2 * i}.blocks.${j}`;
      foldFollowing(dict, `${block}.mlp.0`, `${block}.mlp.1`);
      if (config.spatialAttn) {
        toAffine(dict, `${block}.mlp.4.norm`);
        foldPreceding(dict, `${block}.mlp.4.norm2`, `${block}.mlp.4.conv`);
      }
      if (config.channelAttn && i < 3) {
        foldFollowing(dict, `${block}.spatial_mixing.attn.cfc1`, `${block}.spatial_mixing.attn.bn`);
        toAffine(dict, `${block}.spatial_mixing.norm`);
      }
    }
  }
  for (const norm of ['norm0', 'norm2', 'norm4', 'norm6']) if (dict.has(`${norm}.running_mean`)) toAffine(dict, norm);
  return dict;
}
