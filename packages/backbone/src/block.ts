import { Module, addSameShape, dropPath, tf, type OnnxGraph } from '@partialnet/core';
import type { PartialNetConfig } from './config.js';
import { DPConv } from './dpconv.js';
import { Mlp } from './mlp.js';
import { PartialConv } from './partial-conv.js';
import { PatChannel } from './pat-ch.js';
import { PatSelfAttention } from './pat-sf.js';
import type { OnnxMapSize } from './partial-conv.js';

export type MixerKind = 'pconv' | 'pat_ch' | 'pat_sf';

/**
 * One PartialNet block: a spatial mixer followed by the MLP with a residual connection.
 * Blocks of stages 1-3 add the shortcut around mixer and MLP together: x + mlp(mixer(x)).
 * Stage-4 blocks use the official `split_shortcut`: x = x + mixer(x), then x + mlp(x).
 */
export class PartialNetBlock extends Module {
  /** PConv / PAT_ch / PAT_sf, or with `config.autoDiv` a DPConv (the official DGConv2d). */
  readonly mixer: PartialConv | DPConv;
  readonly mlp: Mlp;

  /**
   * @param splitShortcut the official MLPBlock sets `split_shortcut = channel_type == 'self'`,
   *   and every stage-4 block has channel_type 'self' whatever its mixer is (PAT_sf, a plain
   *   PConv when use_channel_attn is off, or a DGConv2d with auto_div): PartialNet passes
   *   `stage === 3`. The default, `kind === 'pat_sf'`, is the same for the official layouts.
   */
  constructor(
    dim: number,
    readonly kind: MixerKind,
    config: PartialNetConfig,
    readonly dropPathRate: number,
    fused: boolean,
    nDiv = config.nDiv,
    label = 'block',
    readonly splitShortcut = kind === 'pat_sf',
  ) {
    super();
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
      if (this.splitShortcut) {
        const mixed = addSameShape(x, this.mixer.forward(x));
        return addSameShape(mixed, dropPath(this.mlp.forward(mixed), this.dropPathRate, this.training));
      }
      // addSameShape: the residual sum keeps no tensor for the backward pass (tf.add keeps both)
      return addSameShape(x, dropPath(this.mlp.forward(this.mixer.forward(x)), this.dropPathRate, this.training));
    });
  }

  /** ONNX (NCHW, inference: no drop path). `size` fixes the map size where the export has one. */
  exportOnnx(g: OnnxGraph, x: string, size?: OnnxMapSize): string {
    if (this.mixer instanceof DPConv) throw new Error('PartialNetBlock.exportOnnx: a DPConv (autoDiv) block has no export; bakeSplits() the model into a static PartialNet first');
    if (this.splitShortcut) {
      const mixed = g.op('Add', [x, this.mixer.exportOnnx(g, x, size)]);
      return g.op('Add', [mixed, this.mlp.exportOnnx(g, mixed)]);
    }
    return g.op('Add', [x, this.mlp.exportOnnx(g, this.mixer.exportOnnx(g, x, size))]);
  }
}
