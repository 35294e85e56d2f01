import { tf } from '../tf.js';
import { Module } from '../module/module.js';
import type { OnnxGraph } from '../onnx/graph.js';
import { channelAffine } from '../ops/channel-ops.js';

/** A fixed per-channel `x * scale + shift`: what an inference-time BatchNorm becomes after fusion. */
export class ChannelAffine extends Module {
  readonly scale: tf.Variable;
  readonly shift: tf.Variable;

  constructor(readonly numChannels: number) {
    super();
    this.scale = this.addBuffer('scale', tf.ones([numChannels]));
    this.shift = this.addBuffer('shift', tf.zeros([numChannels]));
  }

  forward<T extends tf.Tensor>(x: T): T {
    if (tf.engine().state.gradientDepth === 0) return channelAffine(x, this.scale, this.shift);
    return tf.tidy(() => tf.add(tf.mul(x, this.scale), this.shift) as T);
  }

  /** ONNX on an NCHW value: Mul and Add with [C, 1, 1] constants. */
  exportOnnx(g: OnnxGraph, x: string): string {
    const c = this.numChannels;
    return g.op('Add', [g.op('Mul', [x, g.weight(this.scale, 'same', [c, 1, 1])]), g.weight(this.shift, 'same', [c, 1, 1])]);
  }
}
