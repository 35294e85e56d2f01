import { tf } from '../tf.js';
import { Module } from '../module/module.js';
import type { OnnxGraph } from '../onnx/graph.js';

/**
 * LayerNorm over the channels of each pixel (timm's LayerNorm2d). The eps is 1e-6 as in timm;
 * PartialNet's fixtures cannot tell 1e-5 from 1e-6, so keep it explicit.
 */
export class LayerNorm2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly numChannels: number,
    readonly eps = 1e-6,
  ) {
    super();
    this.weight = this.addParameter('weight', tf.ones([numChannels]));
    this.bias = this.addParameter('bias', tf.zeros([numChannels]));
  }

  forward<T extends tf.Tensor>(x: T): T {
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true);
      const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(normed, this.weight), this.bias) as T;
    });
  }

  /**
   * ONNX on a value whose LAST axis holds the channels (tokens [B, L, C]): one LayerNormalization.
   * Callers with an NCHW map move the channels last first (attention needs tokens anyway).
   */
  exportOnnx(g: OnnxGraph, x: string): string {
    return g.op('LayerNormalization', [x, g.weight(this.weight), g.weight(this.bias)], { axis: -1, epsilon: { float: this.eps } });
  }
}
