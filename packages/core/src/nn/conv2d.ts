import { tf } from '../tf.js';
import { Module } from '../module/module.js';
import { addBias } from '../ops/bias-relu.js';
import { conv2d, takesWinograd, tilingConv2dBias } from '../ops/conv2d.js';
import { linear } from '../ops/matmul.js';
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
      if (this.bias && tf.getBackend() === 'wasm') {
        const fused = this.forwardWasmBias(x, this.bias);
        if (fused) return fused;
      }
      const y = conv2d(x, this.weight as tf.Tensor4D, this.stride, this.padding);
      return this.bias ? addBias(y, this.bias) : y;
    });
  }

  /**
   * On wasm the bias goes into the kernel that computes the conv (XNNPACK adds it as it writes)
   * instead of a broadcasting Add, a second pass over the output (the fused PartialNet-T0 has 20 of
   * them: ~5 ms of a batch-16 forward at best): a 1x1 conv is `linear` on the pixels, with its
   * gradient, in training too, and so is a tiling conv (kernel == stride) on its patches where
   * that is faster (tilingConv2dBias); another conv takes tf.fused.conv2d, for inference only (under a
   * tape conv2d() brings the gradient wasm lacks), unless conv2d() would take Winograd. Undefined:
   * not covered, the caller adds the bias.
   */
  private forwardWasmBias(x: tf.Tensor4D, bias: tf.Tensor): tf.Tensor4D | undefined {
    const [kh, kw, cin, cout] = this.weight.shape as [number, number, number, number];
    if (x.rank !== 4 || x.shape[3] !== cin) return undefined; // conv2d() names the problem
    const [n, h, w] = x.shape;
    if (kh === 1 && kw === 1 && this.stride === 1 && this.padding === 0) {
      const y = linear(x.reshape([n * h * w, cin]) as tf.Tensor2D, this.weight.reshape([cin, cout]) as tf.Tensor2D, bias);
      return y.reshape([n, h, w, cout]) as tf.Tensor4D;
    }
    // PatchEmbed / PatchMerging: patches @ weight + bias, with its gradient (ops/conv2d.ts)
    const tiled = tilingConv2dBias(x, this.weight as tf.Tensor4D, bias, this.stride, this.padding);
    if (tiled) return tiled;
    if (tf.engine().state.gradientDepth > 0) return undefined;
    // a Winograd convolution (ops/winograd.ts) plus the Add is still far faster than XNNPACK's direct one
    if (takesWinograd(x.shape, this.weight.shape, this.stride, this.padding)) return undefined;
    return tf.fused.conv2d({ x, filter: this.weight as tf.Tensor4D, strides: this.stride, pad: this.padding, bias });
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
