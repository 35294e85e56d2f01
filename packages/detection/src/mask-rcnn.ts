import { deriveSeed, getRandomState, isHostMemoryBackend, setRandomState, tf, type OnnxGraph } from '@partialnet/core';
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

  /**
   * The training proposals of `batch`, from a forward pass of the backbone, neck and RPN head
   * outside the gradient tape (reading the RPN's top-k must wait for the device, which the tape
   * cannot). Costs one extra forward of those parts per step. The pass leaves no trace: BatchNorm
   * statistics and the random stream (drop path) are restored, so the taped forward that follows
   * computes the same features, and these proposals are exactly the ones it would have made.
   */
  override async prepare(batch: DetectionBatch): Promise<void> {
    this.checkBatch(batch);
    // On a host-memory backend forward() takes the proposals from the step's own RPN outputs
    // (read synchronously inside the tape): no second backbone + FPN + RPN pass here.
    if (isHostMemoryBackend()) {
      delete batch.proposals;
      return;
    }
    const buffers = [...this.namedBuffers()].map(([, v]) => [v, tf.clone(v)] as const);
    const random = getRandomState();
    const { cls, reg } = tf.tidy(() => this.rpnHead.forward(this.extractFeatures(batch.images)));
    try {
      batch.proposals = await this.rpnHead.proposals(cls, reg, batch.metas, true);
    } finally {
      tf.dispose([cls, reg]);
      setRandomState(random);
      for (const [v, saved] of buffers) {
        v.assign(saved);
        saved.dispose();
      }
    }
  }

  /** Training losses: loss_rpn_cls, loss_rpn_bbox, loss_cls, loss_bbox and (with a mask head) loss_mask. */
  forward(batch: DetectionBatch): LossDict {
    this.checkBatch(batch);
    if (!batch.proposals && !isHostMemoryBackend()) throw new Error('MaskRCNN.forward: the batch has no proposals; await model.prepare(batch) before the forward pass');
    return tf.tidy(() => {
      const feats = this.extractFeatures(batch.images);
      const { cls, reg } = this.rpnHead.forward(feats);
      // proposals are constants of the step (PyTorch detaches them too): values read, no gradient
      const proposals = batch.proposals ?? this.rpnHead.proposalsSync(cls, reg, batch.metas, true);
      const rpnLosses = this.rpnHead.loss(cls, reg, batch.targets, batch.metas);
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

  async predictFromDense(dense: Readonly<Record<string, tf.Tensor4D>>, metas: readonly DetectionMeta[], options: PredictOptions = {}): Promise<Detections[]> {
    const pick = (prefix: string) => this.neck.outputInfo.map((f) => dense[`${prefix}${f.name}`]!);
    const proposals = await this.rpnHead.proposals(pick('rpn_cls_'), pick('rpn_reg_'), metas, false);
    return await this.roiHead.predict(pick(''), proposals, metas, options.rescale ?? true);
  }

  async predict(images: tf.Tensor4D, metas: readonly DetectionMeta[], options: PredictOptions = {}): Promise<Detections[]> {
    const feats = this.extractFeatures(images);
    try {
      const { cls, reg } = tf.tidy(() => this.rpnHead.forward(feats));
      let proposals;
      try {
        proposals = await this.rpnHead.proposals(cls, reg, metas, false);
      } finally {
        tf.dispose([cls, reg]);
      }
      return await this.roiHead.predict(feats, proposals, metas, options.rescale ?? true);
    } finally {
      tf.dispose(feats);
    }
  }
}

