import { Conv2d, Module, tf, type OnnxGraph } from '@partialnet/core';

/**
 * The spatial size of a map in an ONNX export: fixed [h, w] when the export fixes the input size,
 * or the name of an NCHW value whose height and width are the map's (dynamic sizes).
 */
export type OnnxMapSize = readonly [number, number] | string;

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

  /** ONNX (NCHW): Split, Conv on the first part, and the untouched rest, as PyTorch's exporter emits. */
  protected splitConvOnnx(g: OnnxGraph, x: string): [string, string] {
    const [head, rest] = g.node('Split', [x, g.ints([this.convChannels, this.dim - this.convChannels], 'split')], { attributes: { axis: 1 }, count: 2 });
    return [this.partialConv.exportOnnx(g, head!), rest!];
  }

  /** ONNX: Split + Conv + Concat (`_size`: see OnnxMapSize; unused here). */
  exportOnnx(g: OnnxGraph, x: string, _size?: OnnxMapSize): string {
    return g.op('Concat', this.splitConvOnnx(g, x), { axis: 1 });
  }
}
