import { Linear, Module, ModuleList, tf } from '@partialnet/core';
import { normalInit, xavierUniformInit } from './nn.js';

export interface BBoxHeadConfig {
  inChannels: number;
  roiSize: number;
  fcChannels: number;
  numSharedFcs: number;
  numClasses: number;
}

/**
 * mmdet's Shared2FCBBoxHead (names shared_fcs.i / fc_cls / fc_reg): flattened RoI features through
 * shared FC + ReLU layers, then K + 1 class logits (background last) and class-specific deltas
 * [R, 4K]. Features are flattened in PyTorch's (C, H, W) order so converted weights fit.
 */
export class BBoxHead extends Module {
  readonly sharedFcs: ModuleList<Linear>;
  readonly fcCls: Linear;
  readonly fcReg: Linear;

  constructor(readonly config: BBoxHeadConfig) {
    super();
    const c = config;
    this.sharedFcs = this.addChild('shared_fcs', new ModuleList());
    for (let i = 0; i < c.numSharedFcs; i++) {
      this.sharedFcs.push(new Linear(i === 0 ? c.inChannels * c.roiSize * c.roiSize : c.fcChannels, c.fcChannels));
    }
    this.fcCls = this.addChild('fc_cls', new Linear(c.fcChannels, c.numClasses + 1));
    this.fcReg = this.addChild('fc_reg', new Linear(c.fcChannels, 4 * c.numClasses));
    for (const fc of this.sharedFcs.items) xavierUniformInit(fc);
    normalInit(this.fcCls, 0.01);
    normalInit(this.fcReg, 0.001);
  }

  /** RoI features [R, S, S, C] to class logits [R, K + 1] and deltas [R, 4K]. */
  forward(roiFeats: tf.Tensor4D): { cls: tf.Tensor2D; reg: tf.Tensor2D } {
    return tf.tidy(() => {
      const r = roiFeats.shape[0];
      let x: tf.Tensor2D = tf.reshape(tf.transpose(roiFeats, [0, 3, 1, 2]), [r, -1]);
      for (const l of this.sharedFcs.items) x = tf.relu(l.forward(x));
      return { cls: this.fcCls.forward(x), reg: this.fcReg.forward(x) };
    });
  }
}
