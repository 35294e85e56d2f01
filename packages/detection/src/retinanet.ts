import { tf, type OnnxGraph } from '@partialnet/core';
import type { RetinaNetConfig } from './config.js';
import { Detector, type PredictOptions } from './detector.js';
import { RetinaHead } from './retina-head.js';
import type { DetectionBatch, DetectionMeta, Detections, LossDict } from './types.js';

/** RetinaNet (Lin et al.): PartialNet + FPN (P3-P7) + RetinaHead (`bbox_head.*`, as mmdet). */
export class RetinaNet extends Detector {
  readonly bboxHead: RetinaHead;

  constructor(readonly config: RetinaNetConfig) {
    super(config.backbone, config.neck);
    this.bboxHead = this.addChild('bbox_head', new RetinaHead({ ...config.head, numClasses: config.numClasses, inChannels: config.neck.outChannels }));
  }

  /** Training losses `loss_cls` (focal) and `loss_bbox` (L1). */
  forward(batch: DetectionBatch): LossDict {
    this.checkBatch(batch);
    return tf.tidy(() => {
      const { cls, reg } = this.bboxHead.forward(this.extractFeatures(batch.images));
      return this.bboxHead.loss(cls, reg, batch.targets, batch.metas);
    });
  }

  /** `cls_p3..` [B, A * K, H, W] class logits and `reg_p3..` [B, A * 4, H, W] deltas per level. */
  denseOnnx(g: OnnxGraph, fpn: readonly string[]): Record<string, string> {
    const { cls, reg } = g.scope('bbox_head', () => this.bboxHead.exportOnnx(g, fpn));
    const out: Record<string, string> = {};
    this.neck.outputInfo.forEach((f, i) => {
      out[`cls_${f.name}`] = cls[i]!;
      out[`reg_${f.name}`] = reg[i]!;
    });
    return out;
  }

  async predictFromDense(dense: Readonly<Record<string, tf.Tensor4D>>, metas: readonly DetectionMeta[], options: PredictOptions = {}): Promise<Detections[]> {
    const pick = (prefix: string) => this.neck.outputInfo.map((f) => dense[`${prefix}_${f.name}`]!);
    return await this.bboxHead.predict(pick('cls'), pick('reg'), metas, options.rescale ?? true);
  }

  async predict(images: tf.Tensor4D, metas: readonly DetectionMeta[], options: PredictOptions = {}): Promise<Detections[]> {
    const { cls, reg } = tf.tidy(() => this.bboxHead.forward(this.extractFeatures(images)));
    try {
      return await this.bboxHead.predict(cls, reg, metas, options.rescale ?? true);
    } finally {
      tf.dispose([cls, reg]);
    }
  }
}
