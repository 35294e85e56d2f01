import { BatchNorm2d, ChannelAffine, Conv2d, Module, hardSigmoid, tf } from '@partialnet/core';
import { PartialConv } from './partial-conv.js';

/**
 * SRM-style channel attention: per-channel (mean, unbiased std) mixed across channels by a dense
 * conv with a 1x2 kernel (a matmul over [mean | std]), BatchNorm, hard-sigmoid gate.
 */
export class StyleChannelAttention extends Module {
  readonly cfc1: Conv2d;
  readonly bn: BatchNorm2d | undefined;

  constructor(
    readonly channels: number,
    readonly fused: boolean,
  ) {
    super();
    this.cfc1 = this.addChild('cfc1', new Conv2d(channels, channels, { kernelSize: [1, 2], bias: fused }));
    this.bn = fused ? undefined : this.addChild('bn', new BatchNorm2d(channels));
  }

  /** The gate [N, C] for x [N, H, W, C]. */
  gate(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const [n, h, w, c] = x.shape;
      const pixels = h * w;
      const mean = tf.mean(x, [1, 2]);
      const centred = tf.sub(x, mean.reshape([n, 1, 1, c]));
      // torch.std is unbiased: divide by h*w - 1 (a 1x1 map gives NaN there too).
      const std = tf.sqrt(tf.div(tf.sum(tf.square(centred), [1, 2]), pixels - 1));
      const style = tf.concat([mean, std], 1) as tf.Tensor2D;
      // HWIO [1, 2, C, C] flattens to [2C, C] with the mean rows first, matching `style`.
      let z: tf.Tensor2D = tf.matMul(style, this.cfc1.weight.reshape([2 * c, c]) as tf.Tensor2D);
      if (this.cfc1.bias) z = tf.add(z, this.cfc1.bias);
      if (this.bn) z = this.bn.forward(z);
      return hardSigmoid(z);
    });
  }
}

/** PAT_ch: partial 3x3 conv on the first channels, channel attention then BatchNorm on the rest. */
export class PatChannel extends PartialConv {
  readonly attn: StyleChannelAttention;
  readonly norm: BatchNorm2d | ChannelAffine;

  constructor(dim: number, nDiv: number, fused: boolean) {
    super(dim, nDiv);
    const rest = dim - this.convChannels;
    this.attn = this.addChild('attn', new StyleChannelAttention(rest, fused));
    this.norm = this.addChild('norm', fused ? new ChannelAffine(rest) : new BatchNorm2d(rest));
  }

  override forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [head, rest] = this.splitConv(x);
      const [n, , , c] = rest.shape;
      const gate = this.attn.gate(rest);
      if (this.norm instanceof ChannelAffine) {
        // Fused: fold the norm's scale into the [N, C] gate so the big map is touched once.
        const scaled = tf.mul(gate, this.norm.scale).reshape([n, 1, 1, c]);
        return tf.concat([head, tf.add(tf.mul(rest, scaled), this.norm.shift) as tf.Tensor4D], 3);
      }
      const gated = tf.mul(rest, gate.reshape([n, 1, 1, c])) as tf.Tensor4D;
      return tf.concat([head, this.norm.forward(gated)], 3);
    });
  }
}
