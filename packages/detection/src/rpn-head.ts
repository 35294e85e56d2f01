import { Conv2d, Module, reluKeepingOutput, tf, withWinogradFilterCache, type OnnxGraph } from '@partialnet/core';
import { AnchorGenerator, type AnchorGeneratorOptions } from './anchors.js';
import { MaxIoUAssigner, type MaxIoUAssignerOptions } from './assigner.js';
import { DeltaXYWHCoder, type DeltaCoderOptions } from './box-coder.js';
import { selectBoxes } from '@partialnet/data/boxes';
import { flattenLevels, levelSizes, levelTopK, levelTopKSync, type LevelTopK } from './dense-utils.js';
import { bceWithLogitsLoss, l1Loss } from './losses.js';
import { batchedNms } from './nms.js';
import { normalInit } from './nn.js';
import { RandomSampler, type RandomSamplerOptions } from './sampler.js';
import type { DetectionMeta, DetectionTargets, LossDict } from './types.js';

export interface ProposalConfig {
  /** Top-scoring anchors kept per level before NMS. */
  nmsPre: number;
  /** Proposals kept per image after NMS. */
  maxPerImg: number;
  iouThr: number;
}

export interface RpnHeadConfig {
  inChannels: number;
  featChannels: number;
  anchor: AnchorGeneratorOptions;
  assigner: MaxIoUAssignerOptions;
  sampler: RandomSamplerOptions;
  coder: DeltaCoderOptions;
  train: ProposalConfig;
  test: ProposalConfig;
}

/** Proposals of one image: boxes [n, 4] in the (transformed) image's pixels, objectness scores. */
export interface Proposals {
  boxes: Float32Array;
  scores: Float32Array;
}

/**
 * The RPN head (mmdet's RPNHead names: rpn_conv / rpn_cls / rpn_reg): a shared 3x3 conv with ReLU
 * and 1x1 objectness (sigmoid, one per anchor) and delta outputs; sampled BCE + L1 losses and
 * proposal generation.
 */
export class RpnHead extends Module {
  readonly rpnConv: Conv2d;
  readonly rpnCls: Conv2d;
  readonly rpnReg: Conv2d;
  readonly anchors: AnchorGenerator;
  readonly assigner: MaxIoUAssigner;
  readonly sampler: RandomSampler;
  readonly coder: DeltaXYWHCoder;

  constructor(readonly config: RpnHeadConfig) {
    super();
    const c = config;
    this.anchors = new AnchorGenerator(c.anchor);
    this.assigner = new MaxIoUAssigner(c.assigner);
    this.sampler = new RandomSampler(c.sampler);
    this.coder = new DeltaXYWHCoder(c.coder);
    const a = this.anchors.numBaseAnchors;
    this.rpnConv = this.addChild('rpn_conv', new Conv2d(c.inChannels, c.featChannels, { kernelSize: 3, padding: 1, bias: true }));
    this.rpnCls = this.addChild('rpn_cls', new Conv2d(c.featChannels, a, { kernelSize: 1, bias: true }));
    this.rpnReg = this.addChild('rpn_reg', new Conv2d(c.featChannels, a * 4, { kernelSize: 1, bias: true }));
    for (const m of [this.rpnConv, this.rpnCls, this.rpnReg]) normalInit(m, 0.01);
  }

  /**
   * Per level: objectness logits [B, H, W, A] and deltas [B, H, W, A * 4]. The convolution is
   * shared over levels: on wasm its Winograd filter transform is computed once.
   */
  forward(feats: readonly tf.Tensor4D[]): { cls: tf.Tensor4D[]; reg: tf.Tensor4D[] } {
    return withWinogradFilterCache(() => tf.tidy(() => {
      const cls: tf.Tensor4D[] = [];
      const reg: tf.Tensor4D[] = [];
      for (const x of feats) {
        const y = reluKeepingOutput(this.rpnConv.forward(x));
        cls.push(this.rpnCls.forward(y));
        reg.push(this.rpnReg.forward(y));
      }
      return { cls, reg };
    }));
  }

  /** ONNX (NCHW): per level the objectness logits [B, A, H, W] and deltas [B, A * 4, H, W]. */
  exportOnnx(g: OnnxGraph, feats: readonly string[]): { cls: string[]; reg: string[] } {
    const cls: string[] = [];
    const reg: string[] = [];
    for (const x of feats) {
      const y = g.op('Relu', [this.rpnConv.exportOnnx(g, x)]);
      cls.push(this.rpnCls.exportOnnx(g, y));
      reg.push(this.rpnReg.exportOnnx(g, y));
    }
    return { cls, reg };
  }

  /** BCE over the sampled anchors and L1 over the sampled positives, both / number sampled (mmdet). */
  loss(cls: readonly tf.Tensor4D[], reg: readonly tf.Tensor4D[], targets: readonly DetectionTargets[], metas: readonly DetectionMeta[]): LossDict {
    const sizes = levelSizes(cls as tf.Tensor4D[]);
    const anchors = this.anchors.allAnchors(sizes);
    const n = anchors.length / 4;
    const B = targets.length;
    const labels = new Float32Array(B * n);
    const labelWeights = new Float32Array(B * n);
    const boxTargets = new Float32Array(B * n * 4);
    const boxWeights = new Float32Array(B * n);
    let numPos = 0;
    let numNeg = 0;
    for (let b = 0; b < B; b++) {
      const t = targets[b]!;
      const meta = metas[b]!;
      const valid = this.anchors.validFlags(sizes, meta.padShape ?? meta.imgShape);
      const res = this.assigner.assign(anchors, t.boxes, undefined, t.ignoreBoxes, valid);
      const { posInds, negInds } = this.sampler.sample(res);
      for (const i of negInds) labelWeights[b * n + i] = 1;
      for (const i of posInds) {
        labelWeights[b * n + i] = 1;
        labels[b * n + i] = 1;
        boxWeights[b * n + i] = 1;
      }
      if (posInds.length > 0) {
        const deltas = this.coder.encode(selectBoxes(anchors, posInds), selectBoxes(t.boxes, Array.from(posInds, (i) => res.gtInds[i]! - 1)));
        posInds.forEach((i, j) => boxTargets.set(deltas.subarray(4 * j, 4 * j + 4), 4 * (b * n + i)));
      }
      numPos += Math.max(posInds.length, 1);
      numNeg += Math.max(negInds.length, 1);
    }
    const avg = numPos + numNeg;
    return tf.tidy(() => {
      const clsFlat = flattenLevels(cls, 1);
      const regFlat = flattenLevels(reg, 4);
      const lossCls = bceWithLogitsLoss(clsFlat, tf.tensor2d(labels, [B * n, 1]), tf.tensor2d(labelWeights, [B * n, 1]), avg);
      const lossBox = l1Loss(regFlat, tf.tensor2d(boxTargets, [B * n, 4]), tf.tensor2d(boxWeights, [B * n, 1]), avg);
      return { loss_rpn_cls: lossCls, loss_rpn_bbox: lossBox };
    });
  }

  /**
   * mmdet v2's RPN proposals: per level the nmsPre best anchors by objectness, decoded and clipped
   * to the image, empty boxes dropped, NMS within each level, then the maxPerImg best overall.
   * The per-level top-k runs on the device (only nmsPre scores and deltas per level come back);
   * decoding and NMS run on the host: NMS is sequential and small (nmsPre boxes per level), and no
   * backend runs it on the GPU without a synchronous read. No gradient flows into proposals (they
   * are detached in mmdet too).
   */
  async proposals(cls: readonly tf.Tensor4D[], reg: readonly tf.Tensor4D[], metas: readonly DetectionMeta[], training: boolean): Promise<Proposals[]> {
    const cfg = training ? this.config.train : this.config.test;
    const tops: LevelTopK[][] = [];
    for (let l = 0; l < cls.length; l++) tops.push(await levelTopK(cls[l]!, reg[l]!, cfg.nmsPre, 1));
    return this.#proposalsFromTops(tops, levelSizes(cls as tf.Tensor4D[]), metas, training);
  }

  /**
   * `proposals` read synchronously, on host-memory backends only (cpu, wasm): lets a training
   * step take its proposals from its own RPN outputs inside the gradient tape, instead of running
   * the backbone, FPN and RPN once more beforehand.
   */
  proposalsSync(cls: readonly tf.Tensor4D[], reg: readonly tf.Tensor4D[], metas: readonly DetectionMeta[], training: boolean): Proposals[] {
    const cfg = training ? this.config.train : this.config.test;
    const tops = cls.map((c, l) => levelTopKSync(c, reg[l]!, cfg.nmsPre, 1));
    return this.#proposalsFromTops(tops, levelSizes(cls as tf.Tensor4D[]), metas, training);
  }

  #proposalsFromTops(tops: LevelTopK[][], sizes: [number, number][], metas: readonly DetectionMeta[], training: boolean): Proposals[] {
    const cfg = training ? this.config.train : this.config.test;
    return metas.map((meta, b) => {
      const boxes: number[] = [];
      const sc: number[] = [];
      const lv: number[] = [];
      sizes.forEach(([h, w], l) => {
        const top = tops[l]![b]!;
        const keep = Array.from(top.indices);
        const decoded = this.coder.decode(selectBoxes(this.anchors.gridAnchors(l, h, w), keep), top.deltas, meta.imgShape);
        for (let j = 0; j < keep.length; j++) {
          if (!(decoded[4 * j + 2]! - decoded[4 * j]! > 0 && decoded[4 * j + 3]! - decoded[4 * j + 1]! > 0)) continue;
          for (let c = 0; c < 4; c++) boxes.push(decoded[4 * j + c]!);
          sc.push(top.scores[j]!);
          lv.push(l);
        }
      });
      const kept = batchedNms(boxes, sc, lv, cfg.iouThr, cfg.maxPerImg);
      return { boxes: selectBoxes(boxes, kept), scores: Float32Array.from(kept, (i) => sc[i]!) };
    });
  }
}
