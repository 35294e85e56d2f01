import { Module, addSameShape, dropPath, tf } from '@partialnet/core';
import type { PartialNetConfig } from './config.js';
import { DPConv } from './dpconv.js';
import { Mlp } from './mlp.js';
import { PartialConv } from './partial-conv.js';
import { PatChannel } from './pat-ch.js';
import { PatSelfAttention } from './pat-sf.js';

export type MixerKind = 'pconv' | 'pat_ch' | 'pat_sf';

/**
 * One PartialNet block: a spatial mixer followed by the MLP with a residual connection.
 * PAT_ch / PConv blocks add the shortcut around mixer and MLP together; PAT_sf blocks (stage 4)
 * also add the mixer output to x before the MLP, as the official `split_shortcut` path does.
 */
export class PartialNetBlock extends Module {
  /** PConv / PAT_ch / PAT_sf, or with `config.autoDiv` a DPConv (the official DGConv2d). */
  readonly mixer: PartialConv | DPConv;
  readonly mlp: Mlp;

  constructor(
    dim: number,
    readonly kind: MixerKind,
    config: PartialNetConfig,
    readonly dropPathRate: number,
    fused: boolean,
    nDiv = config.nDiv,
    label = 'block',
  ) {
    super();
    // With autoDiv the kind still decides the shortcut: the official MLPBlock keeps the
    // split shortcut of PAT_sf blocks (channel_type 'self') when the mixer is a DGConv2d.
    const mixer = config.autoDiv
      ? new DPConv(dim, { nDiv, preEpoch: config.preEpoch ?? 0, label: `${label}.spatial_mixing`, ...(config.gateInitScale !== undefined ? { gateInitScale: config.gateInitScale } : {}) })
      : kind === 'pat_sf'
        ? new PatSelfAttention(dim, nDiv, config.numHeads)
        : kind === 'pat_ch'
          ? new PatChannel(dim, nDiv, fused)
          : new PartialConv(dim, nDiv);
    this.mixer = this.addChild('spatial_mixing', mixer);
    this.mlp = this.addChild('mlp', new Mlp(dim, dim * config.mlpRatio, config.act, config.spatialAttn, fused));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      if (this.kind === 'pat_sf') {
        const mixed = addSameShape(x, this.mixer.forward(x));
        return addSameShape(mixed, dropPath(this.mlp.forward(mixed), this.dropPathRate, this.training));
      }
      // addSameShape: the residual sum keeps no tensor for the backward pass (tf.add keeps both)
      return addSameShape(x, dropPath(this.mlp.forward(this.mixer.forward(x)), this.dropPathRate, this.training));
    });
  }
}
