import { tf } from '../tf.js';
import { Module } from '../module/module.js';
import { linear } from '../ops/matmul.js';
import { truncNormal } from './init.js';
import type { OnnxGraph } from '../onnx/graph.js';

/** y = x W + b over the last axis; the weight is stored [in, out] and saved as PyTorch's [out, in]. */
export class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | undefined;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias?: boolean } = {},
  ) {
    super();
    this.weight = this.addParameter('weight', truncNormal([inFeatures, outFeatures]), 'linear');
    this.bias = (options.bias ?? true) ? this.addParameter('bias', tf.zeros([outFeatures])) : undefined;
  }

  forward<T extends tf.Tensor>(x: T): T {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const flat = x.reshape([-1, this.inFeatures]) as tf.Tensor2D;
      return linear(flat, this.weight as tf.Tensor2D, this.bias).reshape([...lead, this.outFeatures]) as T;
    });
  }

  /** ONNX: MatMul over the last axis with the [in, out] weight, then the bias. */
  exportOnnx(g: OnnxGraph, x: string): string {
    const y = g.op('MatMul', [x, g.weight(this.weight)]);
    return this.bias ? g.op('Add', [y, g.weight(this.bias)]) : y;
  }
}
