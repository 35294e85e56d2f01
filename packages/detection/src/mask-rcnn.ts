import { deriveSeed, tf, type OnnxGraph } from '@partialnet/core';
import type { MaskRcnnConfig } from './config.js';
import { Detector, type PredictOptions } from './detector.js';
import { RoiHead } from './roi-head.js';
import { RpnHead } from './rpn-head.js';
import type { DetectionBatch, DetectionMeta, Detections, LossDict } from './types.js';

/**
 * Mask R-CNN (He et al.): PartialNet + FPN (P2-P6) + RPN (`rpn_head.*`) + RoI heads
 * (`roi_head.bbox_head.*`, `roi_head.mask_head.*`), mmdet's names and defaults.
 */
export class MaskRCNN extends Detector {
  readonly rpnHead: RpnHead;
  readonly roiHead: RoiHead;

  constructor(readonly config: MaskRcnnConfig) {
    super(config.backbone, config.neck);
    const ch = config.neck.outChannels;
    this.rpnHead = this.addChild('rpn_head', new RpnHead({ ...config.rpn, inChannels: ch }));
    this.roiHead = this.addChild('roi_head', new RoiHead({ ...config.roi, numClasses: config.numClasses, inChannels: ch }));
  }

  /** The RPN and RoI samplers restart from two streams of `seed`. */
  override reseed(seed: number): void {
    this.rpnHead.sampler.rng.reseed(deriveSeed(seed, 1));
    this.roiHead.sampler.rng.reseed(deriveSeed(seed, 2));
  }

  /** Training losses: loss_rpn_cls, loss_rpn_bbox, loss_cls, loss_bbox and (with a mask head) loss_mask. */
  forward(batch: DetectionBatch): LossDict {
    this.checkBatch(batch);
    return tf.tidy(() => {
      const feats = this.extractFeatures(batch.images);
      const { cls, reg } = this.rpnHead.forward(feats);
      const rpnLosses = this.rpnHead.loss(cls, reg, batch.targets, batch.metas);
      const proposals = this.rpnHead.proposals(cls, reg, batch.metas, true);
      return { ...rpnLosses, ...this.roiHead.loss(feats, proposals, batch.targets, batch.metas) };
    });
  }

  /**
   * The FPN maps `p2..p6` (the RoI heads pool from them) and the RPN's `rpn_cls_p2..` objectness
   * logits and `rpn_reg_p2..` deltas; proposals, RoIAlign and the RoI heads run in TypeScript.
   */
  denseOnnx(g: OnnxGraph, fpn: readonly string[]): Record<string, string> {
    const { cls, reg } = g.scope('rpn_head', () => this.rpnHead.exportOnnx(g, fpn));
    const out: Record<string, string> = {};
    this.neck.outputInfo.forEach((f, i) => {
      out[f.name] = fpn[i]!;
      out[`rpn_cls_${f.name}`] = cls[i]!;
      out[`rpn_reg_${f.name}`] = reg[i]!;
    });
    return out;
  }

  predictFromDense(dense: Readonly<Record<string, tf.Tensor4D>>, metas: readonly DetectionMeta[], options: PredictOptions = {}): Detections[] {
    const pick = (prefix: string) => this.neck.outputInfo.map((f) => dense[`${prefix}${f.name}`]!);
    const proposals = this.rpnHead.proposals(pick('rpn_cls_'), pick('rpn_reg_'), metas, false);
    return this.roiHead.predict(pick(''), proposals, metas, options.rescale ?? true);
  }

  predict(images: tf.Tensor4D, metas: readonly DetectionMeta[], options: PredictOptions = {}): Detections[] {
    const feats = this.extractFeatures(images);
    try {
      const { cls, reg } = this.rpnHead.forward(feats);
      const proposals = this.rpnHead.proposals(cls, reg, metas, false);
      tf.dispose([cls, reg]);
      return this.roiHead.predict(feats, proposals, metas, options.rescale ?? true);
    } finally {
      tf.dispose(feats);
    }
  }
}

