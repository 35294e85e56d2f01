import { BatchNorm2d, ChannelAffine, Conv2d, Module, channelGate, channelStyle, hardSigmoid, hardSigmoidOnnx, tf, type OnnxGraph } from '@partialnet/core';
import { PartialConv, type OnnxMapSize } from './partial-conv.js';

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
      const c = x.shape[3];
      // [mean | unbiased std] per image and channel (torch.std: a 1x1 map gives NaN there too);
      // one fused op with its own gradient on wasm (core's ops/channel-style.ts)
      const style = channelStyle(x);
      // HWIO [1, 2, C, C] flattens to [2C, C] with the mean rows first, matching `style`.
      let z: tf.Tensor2D = tf.matMul(style, this.cfc1.weight.reshape([2 * c, c]) as tf.Tensor2D);
      if (this.cfc1.bias) z = tf.add(z, this.cfc1.bias);
      if (this.bn) z = this.bn.forward(z);
      return hardSigmoid(z);
    });
  }

  /**
   * ONNX: the gate [N, C, 1, 1] of an NCHW value. (mean, unbiased std) side by side make an
   * [N, C, 1, 2] map, so cfc1 is the ordinary Conv it is in PyTorch. The std's pixel count comes
   * from the input's shape, so the graph keeps a dynamic height and width.
   */
  gateOnnx(g: OnnxGraph, x: string, size?: OnnxMapSize): string {
    const mean = g.op('ReduceMean', [x], { axes: [2, 3], keepdims: 1 });
    const centred = g.op('Sub', [x, mean]);
    const biasedVar = g.op('ReduceMean', [g.op('Mul', [centred, centred])], { axes: [2, 3], keepdims: 1 });
    let correction: string;
    if (typeof size === 'object') {
      const n = size[0] * size[1];
      correction = g.scalar(n / (n - 1));
    } else {
      const hw = g.op('Slice', [g.op('Shape', [x]), g.ints([2], 'start'), g.ints([4], 'end')]);
      const n = g.op('Cast', [g.op('ReduceProd', [hw], { keepdims: 0 })], { to: 1 });
      correction = g.op('Div', [n, g.op('Sub', [n, g.scalar(1)])]);
    }
    // torch.std is unbiased: mean of squares times n / (n - 1).
    const std = g.op('Sqrt', [g.op('Mul', [biasedVar, correction])]);
    let z = this.cfc1.exportOnnx(g, g.op('Concat', [mean, std], { axis: 3 }));
    if (this.bn) z = this.bn.exportOnnx(g, z);
    return hardSigmoidOnnx(g, z);
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
      const gate = this.attn.gate(rest);
      if (this.norm instanceof ChannelAffine) {
        // Fused: fold the norm's scale into the [N, C] gate so the big map is touched once.
        return tf.concat([head, channelGate(rest, tf.mul(gate, this.norm.scale) as tf.Tensor2D, this.norm.shift as tf.Tensor1D)], 3);
      }
      return tf.concat([head, this.norm.forward(channelGate(rest, gate))], 3);
    });
  }

  /** ONNX: Split, Conv on the head; gate, then norm (fused: the gate absorbs the norm's scale). */
  override exportOnnx(g: OnnxGraph, x: string, size?: OnnxMapSize): string {
    const [head, rest] = this.splitConvOnnx(g, x);
    const gate = this.attn.gateOnnx(g, rest, size);
    let out: string;
    if (this.norm instanceof ChannelAffine) {
      const c = this.norm.numChannels;
      const scaled = g.op('Mul', [gate, g.weight(this.norm.scale, 'same', [c, 1, 1])]);
      out = g.op('Add', [g.op('Mul', [rest, scaled]), g.weight(this.norm.shift, 'same', [c, 1, 1])]);
    } else {
      out = this.norm.exportOnnx(g, g.op('Mul', [rest, gate]));
    }
    return g.op('Concat', [head, out], { axis: 1 });
  }
}
