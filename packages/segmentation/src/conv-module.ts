import { BatchNorm2d, Conv2d, Module, tf } from '@partialnet/core';
import { kaimingNormalInit } from '@partialnet/detection/layers';

/**
 * mmcv's ConvModule with BatchNorm and ReLU: an unbiased conv (`conv`), a BatchNorm (`bn`) and
 * ReLU, so names read `scale_heads.0.0.conv.weight`, `scale_heads.0.0.bn.running_mean`. Weights
 * get mmcv's kaiming_init (fan_out, normal), the norm weight 1 and bias 0.
 */
export class ConvBnRelu extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;

  constructor(inChannels: number, outChannels: number, kernelSize: number) {
    super();
    this.conv = this.addChild('conv', new Conv2d(inChannels, outChannels, { kernelSize, padding: (kernelSize - 1) / 2, bias: false }));
    this.bn = this.addChild('bn', new BatchNorm2d(outChannels));
    kaimingNormalInit(this.conv);
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.relu(this.bn.forward(this.conv.forward(x))));
  }
}
