import { Conv2d, Module, tf } from '@partialnet/core';

/** A 3x3 convolution over the first `dim / nDiv` channels; the others pass through (PConv). */
export class PartialConv extends Module {
  readonly convChannels: number;
  readonly partialConv: Conv2d;

  constructor(
    readonly dim: number,
    nDiv: number,
  ) {
    super();
    this.convChannels = Math.floor(dim / nDiv);
    this.partialConv = this.addChild('partial_conv3', new Conv2d(this.convChannels, this.convChannels, { kernelSize: 3, padding: 1 }));
  }

  /** Splits x into the convolved part (already convolved) and the untouched rest. */
  protected splitConv(x: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] {
    const [head, rest] = tf.split(x, [this.convChannels, this.dim - this.convChannels], 3) as [tf.Tensor4D, tf.Tensor4D];
    return [this.partialConv.forward(head), rest];
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.concat(this.splitConv(x), 3));
  }
}
