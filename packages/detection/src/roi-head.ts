import { Module, tf } from '@partialnet/core';
import { MaxIoUAssigner, type MaxIoUAssignerOptions } from './assigner.js';
import { BBoxHead } from './bbox-head.js';
import { DeltaXYWHCoder, type DeltaCoderOptions } from './box-coder.js';
import { boxesToOriginal, numBoxes, selectBoxes } from '@partialnet/data/boxes';
import { bceWithLogitsLoss, l1Loss, weightedCrossEntropy } from './losses.js';
import { MaskHead } from './mask-head.js';
import { pasteMask } from './mask-paste.js';
import { instanceBitmap } from '@partialnet/data/masks';
import { maskTargets } from './mask-targets.js';
import { batchedNms } from './nms.js';
import { multiLevelRoiAlign } from './roi-align.js';
import type { Proposals } from './rpn-head.js';
import { RandomSampler, type RandomSamplerOptions } from './sampler.js';
import type { Detections, DetectionMeta, DetectionTargets, LossDict } from './types.js';

export interface RoiHeadConfig {
  numClasses: number;
  inChannels: number;
  /** Strides of the maps RoIs are pooled from (P2-P5: 4, 8, 16, 32). */
  strides: number[];
  finestScale: number;
  /** RoIAlign samples per bin axis; 0 = adaptive (mmdet's default). */
  samplingRatio: number;
  bbox: {
    roiSize: number;
    fcChannels: number;
    numSharedFcs: number;
    coder: DeltaCoderOptions;
    assigner: MaxIoUAssignerOptions;
    sampler: RandomSamplerOptions;
    addGtAsProposals: boolean;
  };
  mask?: {
    roiSize: number;
    convChannels: number;
    numConvs: number;
  };
  test: { scoreThr: number; iouThr: number; maxPerImg: number; maskThr: number };
}

interface SampledRois {
  /** [R, 5] (batchIndex, x1, y1, x2, y2), positives of each image first. */
  rois: Float32Array;
  labels: Int32Array;
  boxTargets: Float32Array;
  /** Per positive roi (in order): image, gt index, and its row in `rois`. */
  pos: { image: number; gt: number; row: number }[];
}

/**
 * mmdet's StandardRoIHead: proposals assigned to gts (plus the gts themselves as proposals),
 * sampled, pooled with multi-level RoIAlign and scored by the box head; positives pooled again at
 * 14x14 for the mask head in training, detections in inference.
 */
export class RoiHead extends Module {
  readonly bboxHead: BBoxHead;
  readonly maskHead: MaskHead | undefined;
  readonly assigner: MaxIoUAssigner;
  readonly sampler: RandomSampler;
  readonly coder: DeltaXYWHCoder;

  constructor(readonly config: RoiHeadConfig) {
    super();
    const c = config;
    this.bboxHead = this.addChild('bbox_head', new BBoxHead({ inChannels: c.inChannels, roiSize: c.bbox.roiSize, fcChannels: c.bbox.fcChannels, numSharedFcs: c.bbox.numSharedFcs, numClasses: c.numClasses }));
    if (c.mask) this.maskHead = this.addChild('mask_head', new MaskHead({ inChannels: c.inChannels, convChannels: c.mask.convChannels, numConvs: c.mask.numConvs, numClasses: c.numClasses }));
    this.assigner = new MaxIoUAssigner(c.bbox.assigner);
    this.sampler = new RandomSampler(c.bbox.sampler);
    this.coder = new DeltaXYWHCoder(c.bbox.coder);
  }

  #pool(feats: readonly tf.Tensor4D[], rois: Float32Array, size: number): tf.Tensor4D {
    const c = this.config;
    return multiLevelRoiAlign(feats.slice(0, c.strides.length), rois, { outSize: size, strides: c.strides, samplingRatio: c.samplingRatio, finestScale: c.finestScale });
  }

  #sample(proposals: readonly Proposals[], targets: readonly DetectionTargets[]): SampledRois {
    const K = this.config.numClasses;
    const rois: number[] = [];
    const labels: number[] = [];
    const boxTargets: number[] = [];
    const pos: SampledRois['pos'] = [];
    targets.forEach((t, b) => {
      const g = numBoxes(t.boxes);
      const res = this.assigner.assign(proposals[b]!.boxes, t.boxes, t.labels, t.ignoreBoxes);
      let candidates = proposals[b]!.boxes;
      let gtInds = res.gtInds;
      if (this.config.bbox.addGtAsProposals && g > 0) {
        // mmdet's add_gt_: gts go in front, each assigned to itself.
        candidates = new Float32Array(t.boxes.length + candidates.length);
        candidates.set(t.boxes);
        candidates.set(proposals[b]!.boxes, t.boxes.length);
        gtInds = new Int32Array(g + res.gtInds.length);
        for (let i = 0; i < g; i++) gtInds[i] = i + 1;
        gtInds.set(res.gtInds, g);
      }
      const { posInds, negInds } = this.sampler.sample({ numGts: g, gtInds, maxOverlaps: res.maxOverlaps, labels: res.labels });
      const pushRoi = (i: number) => rois.push(b, candidates[4 * i]!, candidates[4 * i + 1]!, candidates[4 * i + 2]!, candidates[4 * i + 3]!);
      if (posInds.length > 0) {
        const gtIdx = Array.from(posInds, (i) => gtInds[i]! - 1);
        const deltas = this.coder.encode(selectBoxes(candidates, posInds), selectBoxes(t.boxes, gtIdx));
        posInds.forEach((i, j) => {
          pos.push({ image: b, gt: gtIdx[j]!, row: labels.length });
          pushRoi(i);
          labels.push(t.labels[gtIdx[j]!]!);
          for (let c = 0; c < 4; c++) boxTargets.push(deltas[4 * j + c]!);
        });
      }
      for (const i of negInds) {
        pushRoi(i);
        labels.push(K);
        boxTargets.push(0, 0, 0, 0);
      }
    });
    return { rois: Float32Array.from(rois), labels: Int32Array.from(labels), boxTargets: Float32Array.from(boxTargets), pos };
  }

  /**
   * Box losses (CE over the sampled rois, L1 over positives' class-specific deltas, both / number of
   * rois) and the mask loss (BCE of each positive's gt-class logits against its 28x28 target).
   */
  loss(feats: readonly tf.Tensor4D[], proposals: readonly Proposals[], targets: readonly DetectionTargets[], metas: readonly DetectionMeta[]): LossDict {
    const K = this.config.numClasses;
    const s = this.#sample(proposals, targets);
    const R = s.labels.length;
    return tf.tidy(() => {
      const losses: LossDict = {};
      if (R === 0) {
        losses.loss_cls = tf.scalar(0);
        losses.loss_bbox = tf.scalar(0);
      } else {
        const { cls, reg } = this.bboxHead.forward(this.#pool(feats, s.rois, this.config.bbox.roiSize));
        losses.loss_cls = weightedCrossEntropy(cls, s.labels, null, R);
        const onehot = new Float32Array(R * K);
        const weights = new Float32Array(R);
        for (const p of s.pos) {
          onehot[p.row * K + s.labels[p.row]!] = 1;
          weights[p.row] = 1;
        }
        // Class-specific deltas of each roi's own class, as a one-hot product (no gather).
        const picked = tf.sum(tf.mul(tf.reshape(reg, [R, K, 4]), tf.tensor3d(onehot, [R, K, 1])), 1);
        losses.loss_bbox = l1Loss(picked, tf.tensor2d(s.boxTargets, [R, 4]), tf.tensor2d(weights, [R, 1]), R);
      }
      if (this.maskHead) losses.loss_mask = this.#maskLoss(feats, s, targets, metas);
      return losses;
    });
  }

  #maskLoss(feats: readonly tf.Tensor4D[], s: SampledRois, targets: readonly DetectionTargets[], metas: readonly DetectionMeta[]): tf.Scalar {
    const P = s.pos.length;
    if (P === 0) return tf.scalar(0);
    const K = this.config.numClasses;
    const size = 2 * this.config.mask!.roiSize;
    const rois = new Float32Array(P * 5);
    s.pos.forEach((p, j) => rois.set(s.rois.subarray(5 * p.row, 5 * p.row + 5), 5 * j));
    const maskTarget = new Float32Array(P * size * size);
    const cache = new Map<string, Uint8Array>();
    for (let b = 0; b < targets.length; b++) {
      const mine = s.pos.map((p, j) => [p, j] as const).filter(([p]) => p.image === b);
      if (mine.length === 0) continue;
      const masks = targets[b]!.masks;
      if (!masks) throw new Error('Mask R-CNN training: targets have boxes but no masks (load the data set with masks)');
      const [h, w] = metas[b]!.imgShape;
      const boxes = new Float32Array(mine.length * 4);
      mine.forEach(([, j], q) => boxes.set(rois.subarray(5 * j + 1, 5 * j + 5), 4 * q));
      const bitmap = (g: number) => {
        const key = `${b}:${g}`;
        let m = cache.get(key);
        if (!m) cache.set(key, (m = instanceBitmap(masks[g]!, h, w)));
        return m;
      };
      const t = maskTargets(boxes, mine.map(([p]) => p.gt), bitmap, h, w, size);
      mine.forEach(([, j], q) => maskTarget.set(t.subarray(q * size * size, (q + 1) * size * size), j * size * size));
    }
    const onehot = new Float32Array(P * K);
    s.pos.forEach((p, j) => (onehot[j * K + s.labels[p.row]!] = 1));
    return tf.tidy(() => {
      const logits = this.maskHead!.forward(this.#pool(feats, rois, this.config.mask!.roiSize));
      const picked = tf.sum(tf.mul(logits, tf.tensor4d(onehot, [P, 1, 1, K])), 3);
      return bceWithLogitsLoss(picked, tf.tensor3d(maskTarget, [P, size, size]), null, 'mean');
    });
  }

  /**
   * Detections per image from proposals: softmax scores, class-specific boxes clipped to the image
   * and mapped to original coordinates, class-aware NMS; masks pasted into the original image.
   * Test time only: the per-roi scores and deltas (and the detections' 28x28 mask probabilities)
   * come to the host, where NMS (sequential) and pasting into the image-sized bitmaps run.
   */
  async predict(feats: readonly tf.Tensor4D[], proposals: readonly Proposals[], metas: readonly DetectionMeta[], rescale = true): Promise<Detections[]> {
    const K = this.config.numClasses;
    const t = this.config.test;
    const counts = proposals.map((p) => numBoxes(p.boxes));
    const R = counts.reduce((a, b) => a + b, 0);
    const rois = new Float32Array(R * 5);
    let r = 0;
    proposals.forEach((p, b) => {
      for (let i = 0; i < counts[b]!; i++, r++) rois.set([b, p.boxes[4 * i]!, p.boxes[4 * i + 1]!, p.boxes[4 * i + 2]!, p.boxes[4 * i + 3]!], 5 * r);
    });
    let scores: Float32Array = new Float32Array(0);
    let deltas: Float32Array = new Float32Array(0);
    if (R > 0) {
      const [probs, reg] = tf.tidy(() => {
        const { cls, reg } = this.bboxHead.forward(this.#pool(feats, rois, this.config.bbox.roiSize));
        return [tf.softmax(cls), reg];
      });
      scores = (await probs.data()) as Float32Array;
      deltas = (await reg.data()) as Float32Array;
      tf.dispose([probs, reg]);
    }
    const dets: Detections[] = [];
    const detBoxesImg: Float32Array[] = [];
    let start = 0;
    proposals.forEach((p, b) => {
      const meta = metas[b]!;
      const n = counts[b]!;
      const decoded = this.coder.decode(p.boxes, deltas.subarray(start * 4 * K, (start + n) * 4 * K), meta.imgShape, K);
      const mapped = rescale ? boxesToOriginal(decoded, meta) : decoded;
      const cand: number[] = [];
      for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) if (scores[(start + i) * (K + 1) + k]! > t.scoreThr) cand.push(i * K + k);
      const candBoxes = selectBoxes(mapped, cand);
      const candScores = Float32Array.from(cand, (c) => scores[(start + Math.floor(c / K)) * (K + 1) + (c % K)]!);
      const candLabels = Int32Array.from(cand, (c) => c % K);
      const kept = batchedNms(candBoxes, candScores, candLabels, t.iouThr, t.maxPerImg);
      dets.push({ boxes: selectBoxes(candBoxes, kept), scores: Float32Array.from(kept, (i) => candScores[i]!), labels: Int32Array.from(kept, (i) => candLabels[i]!) });
      detBoxesImg.push(selectBoxes(decoded, Array.from(kept, (i) => cand[i]!)));
      start += n;
    });
    if (this.maskHead) await this.#predictMasks(feats, dets, detBoxesImg, metas, rescale);
    return dets;
  }

  async #predictMasks(feats: readonly tf.Tensor4D[], dets: Detections[], boxesImg: Float32Array[], metas: readonly DetectionMeta[], rescale: boolean): Promise<void> {
    const K = this.config.numClasses;
    const m = 2 * this.config.mask!.roiSize;
    const total = dets.reduce((a, d) => a + d.labels.length, 0);
    let probs: Float32Array = new Float32Array(0);
    if (total > 0) {
      const rois = new Float32Array(total * 5);
      const onehot = new Float32Array(total * K);
      let r = 0;
      dets.forEach((d, b) => {
        for (let i = 0; i < d.labels.length; i++, r++) {
          rois.set([b, ...boxesImg[b]!.subarray(4 * i, 4 * i + 4)], 5 * r);
          onehot[r * K + d.labels[i]!] = 1;
        }
      });
      const picked = tf.tidy(() => tf.sigmoid(tf.sum(tf.mul(this.maskHead!.forward(this.#pool(feats, rois, this.config.mask!.roiSize)), tf.tensor4d(onehot, [total, 1, 1, K])), 3)));
      probs = (await picked.data()) as Float32Array;
      picked.dispose();
    }
    let r = 0;
    dets.forEach((d, b) => {
      const meta = metas[b]!;
      const [h, w] = rescale ? (meta.oriShape ?? meta.imgShape) : meta.imgShape;
      d.maskShape = [h, w];
      d.masks = [];
      for (let i = 0; i < d.labels.length; i++, r++) {
        d.masks.push(pasteMask(probs.subarray(r * m * m, (r + 1) * m * m), m, d.boxes.subarray(4 * i, 4 * i + 4), h, w, this.config.test.maskThr, rescale && !!meta.flip));
      }
    });
  }
}
