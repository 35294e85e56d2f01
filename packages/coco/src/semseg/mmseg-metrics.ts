import type { ConfusionMatrix } from './confusion.js';

/** One class's row of the mmseg table; NaN where mmseg's division is 0 / 0. */
export interface SegClassMetrics {
  id: number;
  name: string;
  IoU: number;
  Acc: number;
}

/** mmseg's IoUMetric results as fractions in [0, 1] (mmseg prints percent rounded to 2 decimals). */
export interface SegMetrics {
  aAcc: number;
  mIoU: number;
  mAcc: number;
  perClass: SegClassMetrics[];
}

function nanmean(values: readonly number[]): number {
  let sum = 0;
  let n = 0;
  for (const v of values) {
    if (Number.isNaN(v)) continue;
    sum += v;
    n++;
  }
  return n === 0 ? NaN : sum / n;
}

/**
 * mmsegmentation's IoUMetric from a confusion matrix (row = prediction, column = ground truth,
 * ignored pixels in the last column): per class the areas of intersection, prediction and label
 * over the non-ignored pixels of the whole split, IoU = intersect / (pred + label - intersect),
 * Acc = intersect / label, aAcc = sum(intersect) / sum(label); mIoU and mAcc are np.nanmean over
 * the classes, so a class that is neither predicted nor labelled (0 / 0) is left out, while one
 * predicted but never labelled counts with IoU 0. The counts are exact integers, so the result
 * does not depend on how the split was batched or ordered.
 */
export function mmsegMetrics(cm: ConfusionMatrix, classNames?: readonly string[]): SegMetrics {
  const K = cm.numClasses;
  const K1 = K + 1;
  const m = cm.matrix;
  if (classNames && classNames.length !== K) throw new RangeError(`mmsegMetrics: ${classNames.length} class names for ${K} classes`);
  const inter = new Float64Array(K);
  const pred = new Float64Array(K);
  const label = new Float64Array(K);
  for (let p = 0; p < K; p++) {
    inter[p] = m[p * K1 + p]!;
    for (let g = 0; g < K; g++) {
      const v = m[p * K1 + g]!;
      pred[p]! += v;
      label[g]! += v;
    }
  }
  let interSum = 0;
  let labelSum = 0;
  const perClass: SegClassMetrics[] = [];
  for (let k = 0; k < K; k++) {
    interSum += inter[k]!;
    labelSum += label[k]!;
    const union = pred[k]! + label[k]! - inter[k]!;
    perClass.push({ id: k, name: classNames?.[k] ?? String(k), IoU: union > 0 ? inter[k]! / union : NaN, Acc: label[k]! > 0 ? inter[k]! / label[k]! : NaN });
  }
  return {
    aAcc: labelSum > 0 ? interSum / labelSum : NaN,
    mIoU: nanmean(perClass.map((c) => c.IoU)),
    mAcc: nanmean(perClass.map((c) => c.Acc)),
    perClass,
  };
}

const pct = (v: number) => (Number.isNaN(v) ? 'nan' : (v * 100).toFixed(2));

/** mmseg's per-class table (percent, 2 decimals) followed by the summary line. */
export function formatSegTable(metrics: SegMetrics): string {
  const width = Math.max(5, ...metrics.perClass.map((c) => c.name.length));
  const lines = [`${'Class'.padEnd(width)} |    IoU |    Acc`, `${'-'.repeat(width)}-+--------+-------`];
  for (const c of metrics.perClass) lines.push(`${c.name.padEnd(width)} | ${pct(c.IoU).padStart(6)} | ${pct(c.Acc).padStart(6)}`);
  lines.push('', `aAcc ${pct(metrics.aAcc)}  mIoU ${pct(metrics.mIoU)}  mAcc ${pct(metrics.mAcc)}`);
  return lines.join('\n');
}

/** The `--json` form: fractions, with null for NaN (JSON has no NaN). */
export function segMetricsJson(metrics: SegMetrics): Record<string, unknown> {
  const n = (v: number) => (Number.isNaN(v) ? null : v);
  return { aAcc: n(metrics.aAcc), mIoU: n(metrics.mIoU), mAcc: n(metrics.mAcc), perClass: metrics.perClass.map((c) => ({ id: c.id, name: c.name, IoU: n(c.IoU), Acc: n(c.Acc) })) };
}
