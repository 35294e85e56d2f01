import { Conv2d, Module, ModuleList, tf } from '@partialnet/core';
import { ConvModule, ConvTranspose2x2, kaimingNormalInit } from './nn.js';

export interface MaskHeadConfig {
  inChannels: number;
  convChannels: number;
  numConvs: number;
  numClasses: number;
}

/**
 * mmdet's FCNMaskHead (names convs.i.conv / upsample / conv_logits): 3x3 convs with ReLU, a 2x
 * transposed conv with ReLU, and 1x1 per-class mask logits: [P, 14, 14, C] -> [P, 28, 28, K].
 */
export class MaskHead extends Module {
  readonly convs: ModuleList<ConvModule>;
  readonly upsample: ConvTranspose2x2;
  readonly convLogits: Conv2d;

  constructor(readonly config: MaskHeadConfig) {
    super();
    const c = config;
    this.convs = this.addChild('convs', new ModuleList());
    for (let i = 0; i < c.numConvs; i++) this.convs.push(new ConvModule(i === 0 ? c.inChannels : c.convChannels, c.convChannels, 3, { padding: 1, relu: true }));
    this.upsample = this.addChild('upsample', new ConvTranspose2x2(c.convChannels, c.convChannels));
    this.convLogits = this.addChild('conv_logits', new Conv2d(c.convChannels, c.numClasses, { kernelSize: 1, bias: true }));
    for (const m of this.convs.items) kaimingNormalInit(m.conv);
    kaimingNormalInit(this.convLogits);
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = this.convs.items.reduce((h, m) => m.forward(h), x);
      return this.convLogits.forward(tf.relu(this.upsample.forward(y)));
    });
  }
}
