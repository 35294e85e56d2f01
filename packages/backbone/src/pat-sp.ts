import { BatchNorm2d, ChannelAffine, Conv2d, Module, hardSigmoid, hardSigmoidOnnx, tf, type OnnxGraph } from '@partialnet/core';

/**
 * PAT_sp, appended to the MLP: the first half of the channels is gated by a hard-sigmoid spatial
 * map (1x1 conv to one channel) and normalised; the second half is normalised and mixed by a 1x1
 * conv. When fused, the second BatchNorm lives inside that conv and the first is an affine map.
 */
export class PatSpatial extends Module {
  readonly gatedChannels: number;
  readonly convChannels: number;
  readonly convAttn: Conv2d;
  readonly norm: BatchNorm2d | ChannelAffine;
  readonly norm2: BatchNorm2d | undefined;
  readonly conv: Conv2d;

  constructor(dim: number, fused: boolean) {
    super();
    this.convChannels = Math.floor(dim / 2);
    this.gatedChannels = dim - this.convChannels;
    this.conv = this.addChild('conv', new Conv2d(this.convChannels, this.convChannels, { kernelSize: 1, bias: fused }));
    this.convAttn = this.addChild('conv_attn', new Conv2d(this.gatedChannels, 1, { kernelSize: 1 }));
    this.norm = this.addChild('norm', fused ? new ChannelAffine(this.gatedChannels) : new BatchNorm2d(this.gatedChannels));
    this.norm2 = fused ? undefined : this.addChild('norm2', new BatchNorm2d(this.convChannels));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [gated, mixed] = tf.split(x, [this.gatedChannels, this.convChannels], 3) as [tf.Tensor4D, tf.Tensor4D];
      const weight = hardSigmoid(this.convAttn.forward(gated));
      const first = this.norm.forward(tf.mul(gated, weight) as tf.Tensor4D);
      const second = this.conv.forward(this.norm2 ? this.norm2.forward(mixed) : mixed);
      return tf.concat([first, second], 3);
    });
  }

  /** ONNX (NCHW): Split; gate and norm the first part, conv the second; Concat. */
  exportOnnx(g: OnnxGraph, x: string): string {
    const [gated, mixed] = g.node('Split', [x, g.ints([this.gatedChannels, this.convChannels], 'split')], { attributes: { axis: 1 }, count: 2 }) as [string, string];
    const weight = hardSigmoidOnnx(g, this.convAttn.exportOnnx(g, gated));
    const first = this.norm.exportOnnx(g, g.op('Mul', [gated, weight]));
    const second = this.conv.exportOnnx(g, this.norm2 ? this.norm2.exportOnnx(g, mixed) : mixed);
    return g.op('Concat', [first, second], { axis: 1 });
  }
}
