import { tf } from '../tf.js';
import { Module } from '../module/module.js';
import { addBias } from '../ops/bias-relu.js';
import { conv2d } from '../ops/conv2d.js';
import { truncNormal } from './init.js';
import type { OnnxGraph } from '../onnx/graph.js';

export interface Conv2dOptions {
  kernelSize: number | [number, number];
  stride?: number;
  /** Symmetric zero padding in pixels (PyTorch's `padding`). */
  padding?: number;
  bias?: boolean;
}

/** 2-D convolution on NHWC tensors with a HWIO filter, named and shaped like torch.nn.Conv2d. */
export class Conv2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | undefined;
  readonly stride: number;
  readonly padding: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    options: Conv2dOptions,
  ) {
    super();
    const [kh, kw] = typeof options.kernelSize === 'number' ? [options.kernelSize, options.kernelSize] : options.kernelSize;
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.weight = this.addParameter('weight', truncNormal([kh, kw, inChannels, outChannels]), 'conv');
    this.bias = options.bias ? this.addParameter('bias', tf.zeros([outChannels])) : undefined;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = conv2d(x, this.weight as tf.Tensor4D, this.stride, this.padding);
      return this.bias ? addBias(y, this.bias) : y;
    });
  }

  /** ONNX: one Conv node on an NCHW value (weights OIHW, as in the state dict). */
  exportOnnx(g: OnnxGraph, x: string): string {
    const [kh, kw] = this.weight.shape as number[];
    const p = this.padding;
    const inputs = [x, g.weight(this.weight, 'conv')];
    if (this.bias) inputs.push(g.weight(this.bias));
    return g.op('Conv', inputs, { kernel_shape: [kh!, kw!], strides: [this.stride, this.stride], pads: [p, p, p, p] });
  }
}
