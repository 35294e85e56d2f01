import type { Accumulated } from './cocoeval.js';
import { pyFixed } from './format.js';
import { npMean } from './numpy.js';
import type { Params } from './params.js';

export interface Summary {
  /** The 12 numbers: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl. */
  stats: number[];
  /** The lines pycocotools prints, one per number. */
  lines: string[];
  /** The lines joined with newlines. */
  text: string;
}

export const STAT_NAMES = [
  'AP@[.50:.95]|all|100',
  'AP@.50|all|100',
  'AP@.75|all|100',
  'AP@[.50:.95]|small|100',
  'AP@[.50:.95]|medium|100',
  'AP@[.50:.95]|large|100',
  'AR@[.50:.95]|all|1',
  'AR@[.50:.95]|all|10',
  'AR@[.50:.95]|all|100',
  'AR@[.50:.95]|small|100',
  'AR@[.50:.95]|medium|100',
  'AR@[.50:.95]|large|100',
] as const;

/** Mean of entries > -1 with numpy's summation order, -1 when none (pycocotools' _summarize). */
function meanOver(values: ArrayLike<number>): number {
  return values.length === 0 ? -1 : npMean(values);
}

/** select()'s output, reused: the selections are read at once and can hold a whole precision array. */
let selected = new Float64Array(1024);

/**
 * Entries of precision[t, r, k, a, m] (ap) or recall[t, k, a, m] in C order, for the given IoU
 * threshold indices, categories, one area index and one maxDets index, keeping those > -1. The
 * result is a view that the next call overwrites.
 */
export function select(e: Accumulated, ap: boolean, ts: number[], ks: number[], a: number, m: number): Float64Array {
  const c = e.counts;
  // recall[t, k, a, m] is precision's layout with a single recall threshold
  return ap ? selectFrom(e.precision, c[1], c[2], c[3], c[4], ts, ks, a, m) : selectFrom(e.recall, 1, c[2], c[3], c[4], ts, ks, a, m);
}

function selectFrom(src: Float64Array, R: number, K: number, A: number, M: number, ts: number[], ks: number[], a: number, m: number): Float64Array {
  if (a < 0 || m < 0 || a >= A || m >= M) return selected.subarray(0, 0);
  const most = ts.length * ks.length * R;
  if (selected.length < most) selected = new Float64Array(most);
  const out = selected;
  let n = 0;
  for (let i = 0; i < ts.length; i++)
    for (let r = 0; r < R; r++) {
      const row = (ts[i]! * R + r) * K;
      for (let j = 0; j < ks.length; j++) {
        const v = src[((row + ks[j]!) * A + a) * M + m]!;
        if (v > -1) out[n++] = v;
      }
    }
  return out.subarray(0, n);
}

function thresholdIndices(p: Params, iouThr: number | undefined): number[] {
  if (iouThr === undefined) return p.iouThrs.map((_, i) => i);
  const out: number[] = [];
  p.iouThrs.forEach((t, i) => {
    if (t === iouThr) out.push(i);
  });
  return out;
}

/** pycocotools' summarize() for bbox / segm: the 12 numbers and their printed lines. */
export function summarize(p: Params, e: Accumulated): Summary {
  const K = e.counts[2];
  const allK = Array.from({ length: K }, (_, k) => k);
  const lines: string[] = [];
  const one = (ap: boolean, iouThr?: number, areaLbl = 'all', maxDets = 100): number => {
    const a = p.areaRngLbl.indexOf(areaLbl);
    const m = p.maxDets.indexOf(maxDets);
    const mean = meanOver(select(e, ap, thresholdIndices(p, iouThr), allK, a, m));
    const title = ap ? 'Average Precision' : 'Average Recall';
    const type = ap ? '(AP)' : '(AR)';
    const iouStr = iouThr === undefined ? `${pyFixed(p.iouThrs[0]!, 2)}:${pyFixed(p.iouThrs[p.iouThrs.length - 1]!, 2)}` : pyFixed(iouThr, 2);
    lines.push(
      ` ${title.padEnd(18)} ${type} @[ IoU=${iouStr.padEnd(9)} | area=${areaLbl.padStart(6)} | maxDets=${String(maxDets).padStart(3)} ] = ${pyFixed(mean, 3)}`,
    );
    return mean;
  };
  const md = p.maxDets;
  const stats = [
    one(true),
    one(true, 0.5, 'all', md[2]),
    one(true, 0.75, 'all', md[2]),
    one(true, undefined, 'small', md[2]),
    one(true, undefined, 'medium', md[2]),
    one(true, undefined, 'large', md[2]),
    one(false, undefined, 'all', md[0]),
    one(false, undefined, 'all', md[1]),
    one(false, undefined, 'all', md[2]),
    one(false, undefined, 'small', md[2]),
    one(false, undefined, 'medium', md[2]),
    one(false, undefined, 'large', md[2]),
  ];
  return { stats, lines, text: lines.join('\n') };
}

export interface CategoryRow {
  id: number;
  name: string;
  AP: number;
  AP50: number;
  AP75: number;
  APs: number;
  APm: number;
  APl: number;
  AR1: number;
  AR10: number;
  AR100: number;
  /** Non-crowd ground-truth annotations of the category in the evaluated images. */
  numGt: number;
  numGtCrowd: number;
  /** Results of the category in the evaluated images (before the maxDets cut). */
  numDets: number;
}

export type CategoryMetrics = Omit<CategoryRow, 'numGt' | 'numGtCrowd' | 'numDets'>;

/** Per-category AP / AR: means of precision / recall entries > -1 at maxDets[-1] (-1 when none). */
export function perCategory(p: Params, e: Accumulated, catIds: readonly number[], nameOf: (id: number) => string): CategoryMetrics[] {
  const allT = p.iouThrs.map((_, i) => i);
  const mLast = p.maxDets.length - 1;
  const area = (lbl: string): number => p.areaRngLbl.indexOf(lbl);
  return catIds.map((id, k) => {
    const ap = (ts: number[], a: number): number => meanOver(select(e, true, ts, [k], a, mLast));
    const ar = (m: number): number => meanOver(select(e, false, allT, [k], area('all'), m));
    return {
      id,
      name: nameOf(id),
      AP: ap(allT, area('all')),
      AP50: ap(thresholdIndices(p, 0.5), area('all')),
      AP75: ap(thresholdIndices(p, 0.75), area('all')),
      APs: ap(allT, area('small')),
      APm: ap(allT, area('medium')),
      APl: ap(allT, area('large')),
      AR1: ar(0),
      AR10: ar(1),
      AR100: ar(2),
    };
  });
}

/** A plain-text table of per-category rows (three decimals, -1 shown as '-'). */
export function formatCategoryTable(rows: readonly CategoryRow[]): string {
  const cols = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100'] as const;
  const nameW = Math.max(8, ...rows.map((r) => r.name.length));
  const head = `${'category'.padEnd(nameW)}  ${'id'.padStart(5)}  ${cols.map((c) => c.padStart(6)).join(' ')}  ${'gt'.padStart(6)} ${'dets'.padStart(7)}`;
  const body = rows.map((r) => {
    const vals = cols.map((c) => (r[c] < 0 ? '-' : pyFixed(r[c], 3)).padStart(6)).join(' ');
    return `${r.name.padEnd(nameW)}  ${String(r.id).padStart(5)}  ${vals}  ${String(r.numGt).padStart(6)} ${String(r.numDets).padStart(7)}`;
  });
  return [head, ...body].join('\n');
}
