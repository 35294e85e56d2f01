import { Conv2d, Module, ModuleList, tf, withWinogradFilterCache, type OnnxGraph } from '@partialnet/core';
import { AnchorGenerator, type AnchorGeneratorOptions } from './anchors.js';
import { MaxIoUAssigner, type MaxIoUAssignerOptions } from './assigner.js';
import { DeltaXYWHCoder, type DeltaCoderOptions } from './box-coder.js';
import { boxesToOriginal, selectBoxes } from '@partialnet/data/boxes';
import { flattenLevels, levelSizes, levelTopK, type LevelTopK } from './dense-utils.js';
import { l1Loss, sigmoidFocalLossByLabels } from './losses.js';
import { batchedNms } from './nms.js';
import { ConvModule, normalInit } from './nn.js';
import type { Detections, DetectionMeta, DetectionTargets, LossDict } from './types.js';

export interface DenseTestConfig {
  /** Candidates kept per level before NMS. */
  nmsPre: number;
  scoreThr: number;
  iouThr: number;
  maxPerImg: number;
}

export interface RetinaHeadConfig {
  numClasses: number;
  inChannels: number;
  featChannels: number;
  stackedConvs: number;
  anchor: AnchorGeneratorOptions;
  assigner: MaxIoUAssignerOptions;
  coder: DeltaCoderOptions;
  focal: { alpha: number; gamma: number };
  priorProb: number;
  test: DenseTestConfig;
}

/**
 * RetinaNet's head (mmdet's RetinaHead names: cls_convs / reg_convs / retina_cls / retina_reg),
 * shared over levels, with its training targets, losses and inference.
 */
export class RetinaHead extends Module {
  readonly clsConvs: ModuleList<ConvModule>;
  readonly regConvs: ModuleList<ConvModule>;
  readonly retinaCls: Conv2d;
  readonly retinaReg: Conv2d;
  readonly anchors: AnchorGenerator;
  readonly assigner: MaxIoUAssigner;
  readonly coder: DeltaXYWHCoder;

  constructor(readonly config: RetinaHeadConfig) {
    super();
    const c = config;
    this.anchors = new AnchorGenerator(c.anchor);
    this.assigner = new MaxIoUAssigner(c.assigner);
    this.coder = new DeltaXYWHCoder(c.coder);
    this.clsConvs = this.addChild('cls_convs', new ModuleList());
    this.regConvs = this.addChild('reg_convs', new ModuleList());
    for (let i = 0; i < c.stackedConvs; i++) {
      const cin = i === 0 ? c.inChannels : c.featChannels;
      this.clsConvs.push(new ConvModule(cin, c.featChannels, 3, { padding: 1, relu: true }));
      this.regConvs.push(new ConvModule(cin, c.featChannels, 3, { padding: 1, relu: true }));
    }
    const a = this.anchors.numBaseAnchors;
    this.retinaCls = this.addChild('retina_cls', new Conv2d(c.featChannels, a * c.numClasses, { kernelSize: 3, padding: 1, bias: true }));
    this.retinaReg = this.addChild('retina_reg', new Conv2d(c.featChannels, a * 4, { kernelSize: 3, padding: 1, bias: true }));
    for (const m of [...this.clsConvs.items, ...this.regConvs.items]) normalInit(m.conv, 0.01);
    // Every anchor starts at foreground probability priorProb, so the focal loss of the many
    // negatives does not swamp the first iterations.
    normalInit(this.retinaCls, 0.01, -Math.log((1 - c.priorProb) / c.priorProb));
    normalInit(this.retinaReg, 0.01);
  }

  /**
   * Per level: class logits [B, H, W, A * K] and box deltas [B, H, W, A * 4]. The convolutions
   * are shared over levels: on wasm their Winograd filter transforms are computed once.
   */
  forward(feats: readonly tf.Tensor4D[]): { cls: tf.Tensor4D[]; reg: tf.Tensor4D[] } {
    return withWinogradFilterCache(() => tf.tidy(() => {
      const cls: tf.Tensor4D[] = [];
      const reg: tf.Tensor4D[] = [];
      for (const x of feats) {
        const c = this.clsConvs.items.reduce((y, m) => m.forward(y), x);
        const r = this.regConvs.items.reduce((y, m) => m.forward(y), x);
        cls.push(this.retinaCls.forward(c));
        reg.push(this.retinaReg.forward(r));
      }
      return { cls, reg };
    }));
  }

  /** ONNX (NCHW): per level the raw class logits [B, A * K, H, W] and deltas [B, A * 4, H, W]. */
  exportOnnx(g: OnnxGraph, feats: readonly string[]): { cls: string[]; reg: string[] } {
    const cls: string[] = [];
    const reg: string[] = [];
    for (const x of feats) {
      cls.push(this.retinaCls.exportOnnx(g, this.clsConvs.items.reduce((y, m) => m.exportOnnx(g, y), x)));
      reg.push(this.retinaReg.exportOnnx(g, this.regConvs.items.reduce((y, m) => m.exportOnnx(g, y), x)));
    }
    return { cls, reg };
  }

  /**
   * Focal loss over every valid, non-ignored anchor and L1 over the positives, both divided by
   * the number of positives (each image counting at least one, as mmdet).
   */
  loss(cls: readonly tf.Tensor4D[], reg: readonly tf.Tensor4D[], targets: readonly DetectionTargets[], metas: readonly DetectionMeta[]): LossDict {
    const K = this.config.numClasses;
    const sizes = levelSizes(cls as tf.Tensor4D[]);
    const anchors = this.anchors.allAnchors(sizes);
    const n = anchors.length / 4;
    const B = targets.length;
    const labels = new Int32Array(B * n).fill(K);
    const labelWeights = new Float32Array(B * n);
    const boxTargets = new Float32Array(B * n * 4);
    const boxWeights = new Float32Array(B * n);
    let numPos = 0;
    for (let b = 0; b < B; b++) {
      const t = targets[b]!;
      const meta = metas[b]!;
      const valid = this.anchors.validFlags(sizes, meta.padShape ?? meta.imgShape);
      const res = this.assigner.assign(anchors, t.boxes, t.labels, t.ignoreBoxes, valid);
      const pos: number[] = [];
      for (let i = 0; i < n; i++) {
        const g = res.gtInds[i]!;
        if (g < 0) continue;
        labelWeights[b * n + i] = 1;
        if (g > 0) {
          labels[b * n + i] = t.labels[g - 1]!;
          pos.push(i);
        }
      }
      numPos += Math.max(pos.length, 1);
      if (pos.length > 0) {
        const gts = selectBoxes(t.boxes, pos.map((i) => res.gtInds[i]! - 1));
        const deltas = this.coder.encode(selectBoxes(anchors, pos), gts);
        pos.forEach((i, j) => {
          boxTargets.set(deltas.subarray(4 * j, 4 * j + 4), 4 * (b * n + i));
          boxWeights[b * n + i] = 1;
        });
      }
    }
    return tf.tidy(() => {
      const lossCls = this.levelFocalLoss(cls, sizes, labels, labelWeights, n, numPos);
      const regFlat = flattenLevels(reg, 4);
      const lossBox = l1Loss(regFlat, tf.tensor2d(boxTargets, [B * n, 4]), tf.tensor2d(boxWeights, [B * n, 1]), numPos);
      return { loss_cls: lossCls, loss_bbox: lossBox };
    });
  }

  /**
   * The focal loss summed level by level on each level's own logits: no [all anchors, K] concat
   * (and no gradient of one). Rows of level l are (image, pixel, anchor); `labels` / `weights`
   * are per image in allAnchors order (level-major), n anchors per image.
   */
  private levelFocalLoss(cls: readonly tf.Tensor4D[], sizes: [number, number][], labels: Int32Array, weights: Float32Array, n: number, numPos: number): tf.Scalar {
    const K = this.config.numClasses;
    const A = this.anchors.numBaseAnchors;
    const B = cls[0]!.shape[0];
    let total: tf.Scalar | null = null;
    let offset = 0;
    sizes.forEach(([h, w], l) => {
      const m = h * w * A;
      const lab = new Int32Array(B * m);
      const wt = new Float32Array(B * m);
      for (let b = 0; b < B; b++) {
        lab.set(labels.subarray(b * n + offset, b * n + offset + m), b * m);
        wt.set(weights.subarray(b * n + offset, b * n + offset + m), b * m);
      }
      const loss = sigmoidFocalLossByLabels(tf.reshape(cls[l]!, [B * m, K]) as tf.Tensor2D, lab, wt, numPos, this.config.focal);
      total = total ? (tf.add(total, loss) as tf.Scalar) : loss;
      offset += m;
    });
    return total!;
  }

  /**
   * Detections per image: per level the (anchor, class) pairs scoring above scoreThr, at most
   * nmsPre of them, decoded and clipped to the image, mapped to original coordinates, then
   * class-aware NMS keeping maxPerImg (mmdet v2's filter_scores_and_topk + batched_nms).
   */
  async predict(cls: readonly tf.Tensor4D[], reg: readonly tf.Tensor4D[], metas: readonly DetectionMeta[], rescale = true): Promise<Detections[]> {
    const K = this.config.numClasses;
    const t = this.config.test;
    const sizes = levelSizes(cls as tf.Tensor4D[]);
    // The top nmsPre pairs per level are picked on the device; the k best above the threshold are
    // the k best overall that pass it, in the same order.
    const tops: LevelTopK[][] = [];
    for (let l = 0; l < cls.length; l++) tops.push(await levelTopK(cls[l]!, reg[l]!, t.nmsPre, K));
    const out: Detections[] = [];
    for (let b = 0; b < metas.length; b++) {
      const meta = metas[b]!;
      const boxes: number[] = [];
      const sc: number[] = [];
      const lb: number[] = [];
      sizes.forEach(([h, w], l) => {
        const top = tops[l]![b]!;
        const rows: number[] = [];
        for (let j = 0; j < top.scores.length; j++) if (top.scores[j]! > t.scoreThr) rows.push(j);
        if (rows.length === 0) return;
        const keep = rows.map((j) => top.indices[j]!);
        const anchorIdx = keep.map((i) => Math.floor(i / K));
        const d = selectBoxes(top.deltas, rows);
        const decoded = this.coder.decode(selectBoxes(this.anchors.gridAnchors(l, h, w), anchorIdx), d, meta.imgShape);
        for (let j = 0; j < keep.length; j++) {
          for (let c = 0; c < 4; c++) boxes.push(decoded[4 * j + c]!);
          sc.push(top.scores[rows[j]!]!);
          lb.push(keep[j]! % K);
        }
      });
      const mapped = rescale ? boxesToOriginal(boxes, meta) : Float32Array.from(boxes);
      const kept = batchedNms(mapped, sc, lb, t.iouThr, t.maxPerImg);
      out.push({ boxes: selectBoxes(mapped, kept), scores: Float32Array.from(kept, (i) => sc[i]!), labels: Int32Array.from(kept, (i) => lb[i]!) });
    }
    return out;
  }
}
