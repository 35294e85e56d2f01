import { BatchNorm2d, Conv2d, Module, activation, activationOnnx, tf, type ActivationName, type OnnxGraph } from '@partialnet/core';
import { PatSpatial } from './pat-sp.js';

/**
 * The block's MLP, a torch Sequential: 0 = 1x1 conv C->hidden, 1 = BatchNorm, 2 = activation,
 * 3 = 1x1 conv hidden->C, 4 = PAT_sp (optional). Fused: the BatchNorm is inside conv 0.
 */
export class Mlp extends Module {
  readonly fc1: Conv2d;
  readonly bn: BatchNorm2d | undefined;
  readonly fc2: Conv2d;
  readonly spatial: PatSpatial | undefined;

  constructor(
    dim: number,
    hidden: number,
    readonly act: ActivationName,
    spatialAttn: boolean,
    fused: boolean,
  ) {
    super();
    this.fc1 = this.addChild('0', new Conv2d(dim, hidden, { kernelSize: 1, bias: fused }));
    this.bn = fused ? undefined : this.addChild('1', new BatchNorm2d(hidden));
    this.fc2 = this.addChild('3', new Conv2d(hidden, dim, { kernelSize: 1 }));
    this.spatial = spatialAttn ? this.addChild('4', new PatSpatial(dim, fused)) : undefined;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let y = this.fc1.forward(x);
      if (this.bn) y = this.bn.forward(y);
      y = this.fc2.forward(activation(this.act, y));
      return this.spatial ? this.spatial.forward(y) : y;
    });
  }

  exportOnnx(g: OnnxGraph, x: string): string {
    let y = this.fc1.exportOnnx(g, x);
    if (this.bn) y = this.bn.exportOnnx(g, y);
    y = this.fc2.exportOnnx(g, activationOnnx(g, this.act, y));
    return this.spatial ? this.spatial.exportOnnx(g, y) : y;
  }
}
