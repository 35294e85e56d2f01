import { BatchNorm2d, Conv2d, Module, tf, type OnnxGraph } from '@partialnet/core';

/**
 * A strided non-overlapping conv followed by BatchNorm: the stem (4x4/4, `proj`) and the patch
 * merging between stages (2x2/2, `reduction`). Fused: the BatchNorm is inside the conv.
 */
export class ConvNormDownsample extends Module {
  readonly conv: Conv2d;
  readonly norm: BatchNorm2d | undefined;

  constructor(convName: 'proj' | 'reduction', inChannels: number, outChannels: number, size: number, fused: boolean) {
    super();
    this.conv = this.addChild(convName, new Conv2d(inChannels, outChannels, { kernelSize: size, stride: size, bias: fused }));
    this.norm = fused ? undefined : this.addChild('norm', new BatchNorm2d(outChannels));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = this.conv.forward(x);
      return this.norm ? this.norm.forward(y) : y;
    });
  }

  exportOnnx(g: OnnxGraph, x: string): string {
    const y = this.conv.exportOnnx(g, x);
    return this.norm ? this.norm.exportOnnx(g, y) : y;
  }
}
