import { npSum } from '../eval/numpy.js';

/**
 * Semantic segmentation metrics with detectron2's SemSegEvaluator definitions, in percent:
 * classes without ground-truth pixels get NaN IoU and accuracy and are left out of the means;
 * ignored pixels (label 255 by default) count nowhere.
 */
export interface SemSegMetrics {
  mIoU: number;
  fwIoU: number;
  mACC: number;
  pACC: number;
  /** Per-class IoU (percent), NaN for classes without ground truth. */
  iou: Float64Array;
  /** Per-class accuracy = recall (percent), NaN for classes without ground truth. */
  acc: Float64Array;
}

export class ConfusionMatrix {
  /** (K+1) x (K+1) counts, row = prediction, column = ground truth; the last column is "ignored". */
  readonly matrix: Float64Array;

  constructor(
    readonly numClasses: number,
    readonly ignoreLabel = 255,
  ) {
    if (!Number.isInteger(numClasses) || numClasses <= 0) throw new RangeError(`numClasses: expected a positive integer, got ${numClasses}`);
    this.matrix = new Float64Array((numClasses + 1) ** 2);
  }

  /** Adds one image: predicted and ground-truth labels per pixel, same length and order. */
  update(pred: ArrayLike<number>, gt: ArrayLike<number>): void {
    if (pred.length !== gt.length) throw new RangeError(`update: ${pred.length} predicted pixels but ${gt.length} ground-truth pixels`);
    const K = this.numClasses;
    const K1 = K + 1;
    const ign = this.ignoreLabel;
    const m = this.matrix;
    for (let i = 0; i < pred.length; i++) {
      let g = gt[i]!;
      const p = pred[i]!;
      if (g === ign) g = K;
      else if (!(g >= 0 && g < K && Number.isInteger(g))) {
        throw new RangeError(`update: gt[${i}] = ${g}: expected a class in 0..${K - 1} or the ignore label ${ign}`);
      }
      if (!(p >= 0 && p < K && Number.isInteger(p))) throw new RangeError(`update: pred[${i}] = ${p}: expected a class in 0..${K - 1}`);
      m[K1 * p + g]!++;
    }
  }

  /** Adds another matrix's counts (e.g. from a worker). */
  merge(other: ConfusionMatrix): void {
    if (other.numClasses !== this.numClasses) throw new RangeError(`merge: ${other.numClasses} classes into ${this.numClasses}`);
    for (let i = 0; i < this.matrix.length; i++) this.matrix[i]! += other.matrix[i]!;
  }

  reset(): void {
    this.matrix.fill(0);
  }

  compute(): SemSegMetrics {
    const K = this.numClasses;
    const K1 = K + 1;
    const m = this.matrix;
    const tp = new Float64Array(K);
    const posGt = new Float64Array(K);
    const posPred = new Float64Array(K);
    for (let p = 0; p < K; p++) {
      tp[p] = m[p * K1 + p]!;
      for (let g = 0; g < K; g++) {
        posGt[g]! += m[p * K1 + g]!;
        posPred[p]! += m[p * K1 + g]!;
      }
    }
    const totalGt = npSum(posGt);
    const acc = new Float64Array(K).fill(NaN);
    const iou = new Float64Array(K).fill(NaN);
    const accValid: number[] = [];
    const iouValid: number[] = [];
    const weighted: number[] = [];
    for (let k = 0; k < K; k++) {
      if (!(posGt[k]! > 0)) continue;
      acc[k] = tp[k]! / posGt[k]!;
      accValid.push(acc[k]!);
      const union = posGt[k]! + posPred[k]! - tp[k]!;
      if (union > 0) {
        iou[k] = tp[k]! / union;
        iouValid.push(iou[k]!);
        weighted.push(iou[k]! * (posGt[k]! / totalGt));
      }
    }
    return {
      mIoU: 100 * (npSum(iouValid) / iouValid.length),
      fwIoU: 100 * npSum(weighted),
      mACC: 100 * (npSum(accValid) / accValid.length),
      pACC: 100 * (npSum(tp) / totalGt),
      iou: iou.map((v) => 100 * v),
      acc: acc.map((v) => 100 * v),
    };
  }
}
