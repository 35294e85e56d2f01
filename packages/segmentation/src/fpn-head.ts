import { Conv2d, Module, ModuleList, dropout2d, tf } from '@partialnet/core';
import type { FeatureInfo } from '@partialnet/backbone';
import { normalInit } from '@partialnet/detection/layers';
import { ConvBnRelu } from './conv-module.js';
import { resizeBilinear } from './resize.js';

export interface FpnHeadConfig {
  /** The maps the head reads (the FPN's outputs, finest first). */
  inputs: readonly FeatureInfo[];
  channels: number;
  numClasses: number;
  dropoutRatio: number;
}

/** A 2x bilinear upsampling stage (nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False)); no parameters. */
class Upsample2x extends Module {
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return resizeBilinear(x, [x.shape[1] * 2, x.shape[2] * 2]);
  }
}

type Stage = ConvBnRelu | Upsample2x;

/**
 * mmseg's FPNHead (Panoptic FPN's semantic branch): per input level, max(1, log2(stride / s0))
 * stages of 3x3 conv + BN + ReLU, each followed by 2x bilinear upsampling while the level is
 * coarser than the finest (s0); the levels are summed at the finest resolution (a coarser result
 * is resized to it bilinearly when sizes do not divide), then Dropout2d and a 1x1 classifier
 * (`conv_seg`). Submodule indices match mmseg's nn.Sequential (`scale_heads.3.4.conv`), so the
 * Upsample layers take indices too.
 */
export class FpnHead extends Module {
  readonly scaleHeads: ModuleList<ModuleList<Stage>>;
  readonly convSeg: Conv2d;

  constructor(readonly config: FpnHeadConfig) {
    super();
    const { inputs, channels } = config;
    if (inputs.length === 0) throw new Error('FpnHead: no input levels');
    const s0 = inputs[0]!.stride;
    this.scaleHeads = this.addChild('scale_heads', new ModuleList<ModuleList<Stage>>());
    for (const f of inputs) {
      const ratio = Math.log2(f.stride) - Math.log2(s0);
      if (!Number.isInteger(ratio) || ratio < 0) throw new Error(`FpnHead: level strides must be the first one times a power of two, got ${inputs.map((i) => i.stride).join(', ')}`);
      const length = Math.max(1, ratio);
      const stages = new ModuleList<Stage>();
      for (let k = 0; k < length; k++) {
        stages.push(new ConvBnRelu(k === 0 ? f.channels : channels, channels, 3));
        if (f.stride !== s0) stages.push(new Upsample2x());
      }
      this.scaleHeads.push(stages);
    }
    this.convSeg = this.addChild('conv_seg', new Conv2d(channels, config.numClasses, { kernelSize: 1, bias: true }));
    // mmseg BaseDecodeHead: normal_init(conv_seg, mean=0, std=0.01).
    normalInit(this.convSeg, 0.01, 0);
  }

  /** Logits [N, H0, W0, numClasses] at the finest input's resolution. */
  forward(inputs: readonly tf.Tensor4D[]): tf.Tensor4D {
    if (inputs.length !== this.scaleHeads.items.length) throw new Error(`FpnHead: expected ${this.scaleHeads.items.length} maps, got ${inputs.length}`);
    return tf.tidy(() => {
      let out: tf.Tensor4D | undefined;
      inputs.forEach((x, i) => {
        let y = x;
        for (const stage of this.scaleHeads.items[i]!.items) y = stage.forward(y);
        if (!out) out = y;
        else {
          const size: [number, number] = [out.shape[1], out.shape[2]];
          out = tf.add(out, y.shape[1] === size[0] && y.shape[2] === size[1] ? y : resizeBilinear(y, size)) as tf.Tensor4D;
        }
      });
      return this.convSeg.forward(dropout2d(out!, this.config.dropoutRatio, this.training));
    });
  }
}
