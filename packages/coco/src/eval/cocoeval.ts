import { type Rle, bbIou, rleFrString, rleIou, rleMerge, rleToBbox } from '../mask/rle.js';
import { rleFrPoly } from '../mask/polygon.js';
import { type CocoGroundTruth, SegKind } from '../format/dataset.js';
import { compressedRuns, toRunsForImage, type CocoResults } from '../format/results.js';
import type { IouType } from '../format/types.js';
import { defaultParams, type Params, uniqueSorted } from './params.js';
import { argsortDescStable, searchLeft } from './numpy.js';
import { perCategory, summarize, type CategoryRow, type Summary } from './summarize.js';

/** np.spacing(1): the epsilon pycocotools adds to tp + fp. */
const EPS = 2.220446049250313e-16;

/** The accumulated arrays (pycocotools' COCOeval.eval), C order. */
export interface Accumulated {
  /** [T, R, K, A, M] */
  counts: [number, number, number, number, number];
  /** Shape of precision and scores: [T, R, K, A, M]. */
  precisionShape: [number, number, number, number, number];
  /** Shape of recall: [T, K, A, M]. */
  recallShape: [number, number, number, number];
  /** shape [T, R, K, A, M]; -1 where a setting has no ground truth. */
  precision: Float64Array;
  /** shape [T, K, A, M]; -1 where a setting has no ground truth. */
  recall: Float64Array;
  /** shape [T, R, K, A, M]: the score at which each precision entry is reached. */
  scores: Float64Array;
}

export interface EvalTimings {
  evaluateMs: number;
  accumulateMs: number;
  summarizeMs: number;
}

/** State left by evaluate(): per image-category pairs in flat typed arrays. */
interface Evaluated {
  imgIds: number[];
  catIds: number[];
  K: number;
  nPairs: number;
  /** Kept detections (sorted by score within a pair, cut at maxDets[-1]): pair q owns [keptStart[q], keptStart[q+1]). */
  keptStart: Int32Array;
  kept: Int32Array;
  /** Per (kept detection, area, iouThr): 0 false positive, 1 true positive, 2 ignored. */
  dtCode: Uint8Array;
  /** 1 for a kept detection that matches nothing at any threshold: its codes depend on the area range only. */
  flat: Uint8Array;
  /** Per (area, pair): ground truths that are not ignored. */
  npig: Int32Array;
}

/**
 * COCOeval for 'bbox' and 'segm' with pycocotools' results (cocoapi 8c9bcc3), including its tie
 * breaking, crowd handling and the quirks of loadRes. Usage: evaluate(), accumulate(), summarize().
 */
export class COCOeval {
  params: Params;
  eval: Accumulated | null = null;
  stats: number[] = [];
  readonly timings: EvalTimings = { evaluateMs: 0, accumulateMs: 0, summarizeMs: 0 };
  private state: Evaluated | null = null;
  private paramsEval: Params | null = null;

  constructor(
    readonly cocoGt: CocoGroundTruth,
    readonly cocoDt: CocoResults,
    iouType: IouType = 'segm',
  ) {
    this.params = defaultParams(iouType);
    this.params.imgIds = cocoGt.getImgIds();
    this.params.catIds = cocoGt.getCatIds();
  }

  evaluate(): void {
    const t0 = performance.now();
    const p = this.params;
    if (p.iouType !== 'bbox' && p.iouType !== 'segm') throw new Error(`iouType must be 'bbox' or 'segm', got '${p.iouType as string}'`);
    p.imgIds = uniqueSorted(p.imgIds);
    if (p.useCats) p.catIds = uniqueSorted(p.catIds);
    p.maxDets = [...p.maxDets].sort((a, b) => a - b);
    const gt = this.cocoGt;
    const dt = this.cocoDt;
    const ga = gt.annotations;
    const imgIds = p.imgIds;
    const catIds = p.catIds;
    const nI = imgIds.length;
    const nC = catIds.length;
    const K = p.useCats ? nC : 1;
    const S = p.useCats ? 1 : nC; // category slots per pair
    const nPairs = nI * K;
    const imgPos = new Map<number, number>();
    imgIds.forEach((id, i) => imgPos.set(id, i));
    const catPos = new Map<number, number>();
    catIds.forEach((id, c) => {
      if (!catPos.has(id)) catPos.set(id, c);
    });

    // group ground truth and detections by (image, category), keeping file order inside a group
    const gtGroups = groupBy(ga.count, ga.imageId, ga.categoryId, imgPos, catPos, nI, nC);
    const dtGroups = groupBy(dt.count, dt.imageId, dt.categoryId, imgPos, catPos, nI, nC);
    const maxDet = p.maxDets[p.maxDets.length - 1] ?? 0;

    // detections of each pair sorted by score (stable) and cut at the largest maxDets
    const keptStart = new Int32Array(nPairs + 1);
    const keptTmp = new Int32Array(dtGroups.list.length);
    let nKept = 0;
    const score = dt.score;
    let keys = new Float64Array(64);
    let orderBuf = new Int32Array(64);
    for (let q = 0; q < nPairs; q++) {
      keptStart[q] = nKept;
      const s = dtGroups.start[q * S]!;
      const e = dtGroups.start[(q + 1) * S]!;
      const n = e - s;
      if (n === 0) continue;
      if (n <= 16) {
        // insertion sort: stable, fastest for the usual handful of detections
        for (let j = 0; j < n; j++) {
          const v = dtGroups.list[s + j]!;
          const sv = score[v]!;
          let x = nKept + j - 1;
          while (x >= nKept && score[keptTmp[x]!]! < sv) {
            keptTmp[x + 1] = keptTmp[x]!;
            x--;
          }
          keptTmp[x + 1] = v;
        }
      } else {
        // ties keep the group's order (category, then file order when useCats is off), as mergesort does
        const group = dtGroups.list.subarray(s, e);
        if (keys.length < n) keys = new Float64Array(n * 2);
        for (let j = 0; j < n; j++) keys[j] = score[group[j]!]!;
        if (orderBuf.length < n) orderBuf = new Int32Array(n * 2);
        const order = argsortDescStable(keys, n, orderBuf);
        for (let j = 0; j < n; j++) keptTmp[nKept + j] = group[order[j]!]!;
      }
      nKept += Math.min(n, maxDet);
    }
    keptStart[nPairs] = nKept;
    const kept = keptTmp.slice(0, nKept);

    const T = p.iouThrs.length;
    const A = p.areaRng.length;
    // codes laid out [detection][area][threshold]: accumulate reads one detection's codes together
    const AT = A * T;
    const dtCode = new Uint8Array(AT * nKept);
    const flat = new Uint8Array(nKept);
    const npig = new Int32Array(A * nPairs);
    const thrs = p.iouThrs.map((t) => Math.min(t, 1 - 1e-10));
    // matching compares IoUs with these thresholds only: a detection whose IoUs are all below the
    // least matches nothing, and smaller IoUs need not be exact
    const floor = thrs.length > 0 ? Math.min(...thrs) : Infinity;
    const ious = new IouComputer(this, p.iouType, floor);

    let gtIdx = new Int32Array(64);
    let order = new Int32Array(64);
    let gtIgS = new Uint8Array(64);
    let crowdS = new Uint8Array(64);
    let gtm = new Uint8Array(64);
    let idZero = new Uint8Array(64);
    let maxIou = new Float64Array(256);
    let dtAreaBuf = new Float64Array(256);
    let cand = new Int32Array(256);
    // per area: the ignore flag of each gt (file order), and how each (threshold, detection) matched
    let igFlags = new Uint8Array(A * 64);
    let kinds = new Uint8Array(A * T * 256);
    const gArea = ga.area;
    const gCrowd = ga.iscrowd;
    const gId = ga.id;
    const dArea = dt.area;
    for (let q = 0; q < nPairs; q++) {
      const gs = gtGroups.start[q * S]!;
      const G = gtGroups.start[(q + 1) * S]! - gs;
      const ks = keptStart[q]!;
      const D = keptStart[q + 1]! - ks;
      if (G === 0 && D === 0) continue;
      if (G > gtIdx.length) {
        const c = G * 2;
        gtIdx = new Int32Array(c);
        order = new Int32Array(c);
        gtIgS = new Uint8Array(c);
        crowdS = new Uint8Array(c);
        gtm = new Uint8Array(c);
        idZero = new Uint8Array(c);
      }
      for (let g = 0; g < G; g++) gtIdx[g] = gtGroups.list[gs + g]!;
      const iou = G > 0 && D > 0 ? ious.compute(gtIdx, G, kept, ks, D) : null;
      if (D > maxIou.length) {
        maxIou = new Float64Array(D * 2);
        dtAreaBuf = new Float64Array(D * 2);
        cand = new Int32Array(D * 2);
      }
      if (A * G > igFlags.length) igFlags = new Uint8Array(A * G * 2);
      if (A * T * D > kinds.length) kinds = new Uint8Array(A * T * D * 2);
      // the candidates: detections that can match at some threshold. The others match nothing,
      // and the greedy matching passes them by without effect on the rest
      let nc = 0;
      for (let d = 0; d < D; d++) {
        dtAreaBuf[d] = dArea[kept[ks + d]!]!;
        let mx = -Infinity;
        if (iou !== null) for (let g = 0, row = d * G; g < G; g++) if (iou[row + g]! > mx) mx = iou[row + g]!;
        maxIou[d] = mx;
        if (mx >= floor) cand[nc++] = d;
        else flat[ks + d] = 1;
      }
      for (let a = 0; a < A; a++) {
        const lo = p.areaRng[a]![0];
        const hi = p.areaRng[a]![1];
        // what every detection that matches nothing gets: ignored outside the area range, else a
        // false positive (0, as dtCode was allocated); matchOne rewrites the candidates' codes
        for (let d = 0; d < D; d++) {
          const ar = dtAreaBuf[d]!;
          if (ar < lo || ar > hi) for (let x = (ks + d) * AT + a * T, e = x + T; x < e; x++) dtCode[x] = 2;
        }
        // ground truth order: not ignored first (stable), as the mergesort on _ignore does
        let w = 0;
        for (let g = 0; g < G; g++) {
          const ai = gtIdx[g]!;
          const ar = gArea[ai]!;
          const ig = gCrowd[ai] || ar < lo || ar > hi ? 1 : 0;
          igFlags[a * G + g] = ig;
          if (!ig) order[w++] = g;
        }
        const nNotIg = w;
        for (let g = 0; g < G; g++) if (igFlags[a * G + g]) order[w++] = g;
        npig[a * nPairs + q] = nNotIg;
        if (iou === null || nc === 0) continue;
        // the same ignored ground truths as an earlier area range give the same matches: only
        // whether each detection's area is outside the range differs
        let same = -1;
        for (let b = 0; b < a && same < 0; b++) {
          let g = 0;
          while (g < G && igFlags[b * G + g] === igFlags[a * G + g]) g++;
          if (g === G) same = b;
        }
        if (same >= 0) {
          for (let t = 0; t < T; t++) {
            const from = (same * T + t) * nc;
            const to = (a * T + t) * nc;
            for (let c = 0; c < nc; c++) {
              const kind = kinds[from + c]!;
              kinds[to + c] = kind;
              const d = cand[c]!;
              const ar = dtAreaBuf[d]!;
              dtCode[(ks + d) * AT + a * T + t] = kind === Matched.Gt ? 1 : kind === Matched.Ignored || ar < lo || ar > hi ? 2 : 0;
            }
          }
          continue;
        }
        for (let g = 0; g < G; g++) {
          const ai = gtIdx[order[g]!]!;
          gtIgS[g] = g < nNotIg ? 0 : 1;
          crowdS[g] = gCrowd[ai]!;
          // pycocotools records the matched gt id and tests it against 0: a gt with id 0 reads as unmatched
          idZero[g] = gId[ai] === 0 ? 1 : 0;
        }
        for (let t = 0; t < T; t++) {
          matchOne(iou, G, cand, nc, order, gtIgS, crowdS, idZero, gtm, maxIou, dtAreaBuf, lo, hi, thrs[t]!, dtCode, ks * AT + a * T + t, AT, kinds, (a * T + t) * nc);
        }
      }
    }
    this.state = { imgIds: [...imgIds], catIds: [...catIds], K, nPairs, keptStart, kept, dtCode, flat, npig };
    this.paramsEval = structuredClone(p);
    this.eval = null;
    this.timings.evaluateMs = performance.now() - t0;
  }

  accumulate(): void {
    const t0 = performance.now();
    const st = this.state;
    const p = this.paramsEval;
    if (!st || !p) throw new Error('Please run evaluate() first');
    const T = p.iouThrs.length;
    const R = p.recThrs.length;
    const K = st.K;
    const A = p.areaRng.length;
    const M = p.maxDets.length;
    const nI = st.imgIds.length;
    const { keptStart, kept, dtCode, flat, npig, nPairs } = st;
    const nKept = kept.length;
    const precision = new Float64Array(T * R * K * A * M).fill(-1);
    const recall = new Float64Array(T * K * A * M).fill(-1);
    const scores = new Float64Array(T * R * K * A * M).fill(-1);
    const score = this.cocoDt.score;
    const recThrs = p.recThrs;
    const AT = A * T;
    // rank of each kept detection inside its image-category pair (it is sorted by score there)
    const keptRank = new Int32Array(nKept);
    for (let q = 0; q < nPairs; q++) for (let x = keptStart[q]!; x < keptStart[q + 1]!; x++) keptRank[x] = x - keptStart[q]!;
    const nps = new Int32Array(A);
    const tpc = new Int32Array(AT);
    const igc = new Int32Array(AT);
    const igA = new Int32Array(A);
    const nT = new Int32Array(AT);
    const cOff = new Int32Array(AT);
    // kept detections of one category and their scores, for the sort
    const all = new Int32Array(nKept);
    const allScore = new Float64Array(nKept);
    let ev = new Int32Array(0);
    let rcT = new Float64Array(0);
    let prT = new Float64Array(0);
    for (let k = 0; k < K; k++) {
      // ground truths that count, per area: a setting without any stays -1
      let capacity = 0;
      for (let a = 0; a < A; a++) {
        let np = 0;
        for (let i = 0; i < nI; i++) np += npig[a * nPairs + i * K + k]!;
        nps[a] = np;
        for (let t = 0; t < T; t++) cOff[a * T + t] = capacity + t * np;
        capacity += T * np;
      }
      if (capacity === 0) continue;
      // a setting has at most one true positive per ground truth that counts
      if (ev.length < capacity * 3) ev = new Int32Array(capacity * 6);
      if (rcT.length < capacity) {
        rcT = new Float64Array(capacity * 2);
        prT = new Float64Array(capacity * 2);
      }
      // every kept detection of category k, in image order (kept indices grow with the image index)
      let nAll = 0;
      for (let i = 0; i < nI; i++) {
        const q = i * K + k;
        for (let x = keptStart[q]!; x < keptStart[q + 1]!; x++) {
          all[nAll] = x;
          allScore[nAll++] = score[kept[x]!]!;
        }
      }
      // one stable sort by score serves every maxDets: filtering a sorted list keeps it sorted
      const order = argsortDescStable(allScore, nAll);
      const sorted = new Int32Array(nAll);
      for (let j = 0; j < nAll; j++) sorted[j] = all[order[j]!]!;
      const sub = new Int32Array(sorted.length);
      for (let m = 0; m < M; m++) {
        const maxDet = p.maxDets[m]!;
        let nd = 0;
        for (let j = 0; j < sorted.length; j++) {
          const x = sorted[j]!;
          if (keptRank[x]! < maxDet) sub[nd++] = x;
        }
        countEvents(sub, nd, dtCode, A, T, flat, tpc, igc, igA, nT, cOff, ev);
        for (let a = 0; a < A; a++) {
          const np = nps[a]!;
          if (np === 0) continue;
          for (let t = 0; t < T; t++) {
            const c = a * T + t;
            recall[((t * K + k) * A + a) * M + m] = nd ? tpc[c]! / np : 0;
            // precision[t, r, k, a, m] for r = 0..R-1 sits at stride K*A*M
            const at = ((t * R) * K + k) * A * M + a * M + m;
            const firstScore = nd ? score[kept[sub[0]!]!]! : 0;
            sampleCurve(ev, cOff[c]!, nT[c]!, nd, np, rcT, prT, recThrs, sub, kept, score, firstScore, precision, scores, at, K * A * M);
          }
        }
      }
    }
    this.eval = { counts: [T, R, K, A, M], precisionShape: [T, R, K, A, M], recallShape: [T, K, A, M], precision, recall, scores };
    this.timings.accumulateMs = performance.now() - t0;
  }

  /** The 12 standard numbers and pycocotools' printed summary (not printed here; see `text`). */
  summarize(): Summary {
    const t0 = performance.now();
    if (!this.eval || !this.paramsEval) throw new Error('Please run accumulate() first');
    const s = summarize(this.paramsEval, this.eval);
    this.stats = s.stats;
    this.timings.summarizeMs = performance.now() - t0;
    return s;
  }

  /** AP, AP50, AP75, APs/m/l and AR1/10/100 per category, read from precision / recall. */
  perCategory(): CategoryRow[] {
    if (!this.eval || !this.paramsEval) throw new Error('Please run accumulate() first');
    const p = this.paramsEval;
    const catIds = p.useCats ? p.catIds : [-1];
    const metrics = perCategory(p, this.eval, catIds, (id) => (id === -1 ? 'all' : (this.cocoGt.category(id)?.name ?? String(id))));
    // counts over the evaluated images, per category id
    const imgs = new Set(p.imgIds);
    const count = (n: number, img: Float64Array, cat: Float64Array, crowd?: Uint8Array) => {
      const all = new Map<number, number>();
      const crowdN = new Map<number, number>();
      for (let i = 0; i < n; i++) {
        if (!imgs.has(img[i]!)) continue;
        const c = p.useCats ? cat[i]! : -1;
        if (crowd?.[i]) crowdN.set(c, (crowdN.get(c) ?? 0) + 1);
        else all.set(c, (all.get(c) ?? 0) + 1);
      }
      return { all, crowdN };
    };
    const ga = this.cocoGt.annotations;
    const g = count(ga.count, ga.imageId, ga.categoryId, ga.iscrowd);
    const d = count(this.cocoDt.count, this.cocoDt.imageId, this.cocoDt.categoryId);
    return metrics.map((m) => ({ ...m, numGt: g.all.get(m.id) ?? 0, numGtCrowd: g.crowdN.get(m.id) ?? 0, numDets: d.all.get(m.id) ?? 0 }));
  }
}

/** How a detection matched at one threshold and area range (what its code derives from). */
const enum Matched {
  /** No match, or a match to a gt with id 0 (pycocotools reads it as none). */
  None = 0,
  Gt = 1,
  /** A match to an ignored gt. */
  Ignored = 2,
}

/**
 * Greedy matching of one image-category pair at one IoU threshold and area range, in the order of
 * pycocotools' loops, over the candidate detections cand[0, nc) (in score order; the others cannot
 * match at any threshold). Candidates whose best IoU is below this threshold skip the scan.
 * Writes 0 (false positive), 1 (true positive) or 2 (ignored) per candidate, and how it matched to
 * kinds[kBase + c].
 */
function matchOne(
  iou: Float64Array,
  G: number,
  cand: Int32Array,
  nc: number,
  order: Int32Array,
  gtIg: Uint8Array,
  crowd: Uint8Array,
  idZero: Uint8Array,
  gtm: Uint8Array,
  maxIou: Float64Array,
  dtArea: Float64Array,
  lo: number,
  hi: number,
  thr: number,
  out: Uint8Array,
  base: number,
  stride: number,
  kinds: Uint8Array,
  kBase: number,
): void {
  gtm.fill(0, 0, G);
  for (let c = 0; c < nc; c++) {
    const d = cand[c]!;
    const ar = dtArea[d]!;
    const outside = ar < lo || ar > hi;
    let m = -1;
    if (maxIou[d]! >= thr) {
      let best = thr;
      const row = d * G;
      for (let g = 0; g < G; g++) {
        if (gtm[g] && !crowd[g]) continue;
        if (m > -1 && gtIg[m] === 0 && gtIg[g] === 1) break;
        const v = iou[row + order[g]!]!;
        if (v < best) continue;
        best = v;
        m = g;
      }
    }
    const at = base + d * stride;
    if (m === -1) {
      out[at] = outside ? 2 : 0;
      kinds[kBase + c] = Matched.None;
      continue;
    }
    gtm[m] = 1;
    if (gtIg[m]) {
      out[at] = 2;
      kinds[kBase + c] = Matched.Ignored;
    } else if (idZero[m]) {
      out[at] = outside ? 2 : 0;
      kinds[kBase + c] = Matched.None;
    } else {
      out[at] = 1;
      kinds[kBase + c] = Matched.Gt;
    }
  }
}

/**
 * One pass over the detections of a category in score order, for every (area, threshold) setting
 * c at once: counts true positives and ignored detections and records each true positive (its
 * rank, tp and fp so far) at ev[3 * (cOff[c] + n)]. The detections so far that are neither are the
 * false positives, so a flat detection (see Evaluated.flat) costs one read per area range.
 */
function countEvents(
  sub: Int32Array,
  nd: number,
  codes: Uint8Array,
  A: number,
  T: number,
  flat: Uint8Array,
  tpc: Int32Array,
  igc: Int32Array,
  igA: Int32Array,
  nT: Int32Array,
  cOff: Int32Array,
  ev: Int32Array,
): void {
  tpc.fill(0);
  igc.fill(0);
  igA.fill(0);
  nT.fill(0);
  const AT = A * T;
  if (AT === 0) return;
  for (let j = 0; j < nd; j++) {
    const x = sub[j]!;
    const base = x * AT;
    if (flat[x]) {
      // ignored (2) or a false positive (0) at every threshold of an area range
      for (let a = 0; a < A; a++) if (codes[base + a * T] === 2) igA[a]!++;
      continue;
    }
    for (let a = 0, c = 0; a < A; a++) {
      for (let t = 0; t < T; t++, c++) {
        const code = codes[base + c]!;
        if (code === 2) igc[c]!++;
        else if (code === 1) {
          const tp = ++tpc[c]!;
          const e = 3 * (cOff[c]! + nT[c]!++);
          ev[e] = j;
          ev[e + 1] = tp;
          ev[e + 2] = j + 1 - tp - igc[c]! - igA[a]!;
        }
      }
    }
  }
}

/**
 * pycocotools' precision at each recall threshold, computed from the true positives only. Its
 * curve has rc = tp / npig and pr = tp / (fp + tp + eps) at every rank, made monotone from the
 * right, then sampled with searchsorted(rc, thr, 'left'). Recall only rises at true positives, and
 * elsewhere pr is at most its value at the last true positive (or 0 before the first), so the
 * suffix maxima over true positives give the same doubles with far fewer divisions. The sampled
 * rank is 0 for thr <= 0 and the first true positive with rc >= thr otherwise; 0 past the end.
 */
function sampleCurve(
  ev: Int32Array,
  off: number,
  n: number,
  nd: number,
  np: number,
  rcT: Float64Array,
  prT: Float64Array,
  recThrs: readonly number[],
  sub: Int32Array,
  kept: Int32Array,
  score: Float64Array,
  firstScore: number,
  precision: Float64Array,
  scores: Float64Array,
  at: number,
  stride: number,
): void {
  for (let i = 0; i < n; i++) {
    const e = 3 * (off + i);
    const tp = ev[e + 1]!;
    rcT[i] = tp / np;
    prT[i] = tp / (ev[e + 2]! + tp + EPS);
  }
  for (let i = n - 1; i > 0; i--) if (prT[i]! > prT[i - 1]!) prT[i - 1] = prT[i]!;
  const R = recThrs.length;
  let r = 0;
  // searchsorted-left position of the previous threshold: rcT rises, so for rising thresholds
  // the next position is found by stepping on from there
  let i = 0;
  let prevThr = -Infinity;
  for (; r < R; r++) {
    const thr = recThrs[r]!;
    let pv: number;
    let sv: number;
    if (thr <= 0) {
      if (nd === 0) break;
      pv = n > 0 && prT[0]! > 0 ? prT[0]! : 0;
      sv = firstScore;
    } else {
      if (thr < prevThr) i = searchLeft(rcT, n, thr);
      else while (i < n && rcT[i]! < thr) i++;
      prevThr = thr;
      if (i >= n) break;
      pv = prT[i]!;
      sv = score[kept[sub[ev[3 * (off + i)]!]!]!]!;
    }
    precision[at + r * stride] = pv;
    scores[at + r * stride] = sv;
  }
  for (; r < R; r++) {
    precision[at + r * stride] = 0;
    scores[at + r * stride] = 0;
  }
}

/** Counting sort of items into (image, category) slots: start has nI*nC+1 entries. */
function groupBy(
  n: number,
  imageId: Float64Array,
  categoryId: Float64Array,
  imgPos: Map<number, number>,
  catPos: Map<number, number>,
  nI: number,
  nC: number,
): { start: Int32Array; list: Int32Array } {
  const slot = new Int32Array(n);
  const start = new Int32Array(nI * nC + 1);
  let lastImg = NaN;
  let lastI = -1;
  for (let j = 0; j < n; j++) {
    const im = imageId[j]!;
    if (im !== lastImg) {
      lastImg = im;
      lastI = imgPos.get(im) ?? -1;
    }
    const c = lastI < 0 ? undefined : catPos.get(categoryId[j]!);
    if (c === undefined) {
      slot[j] = -1;
      continue;
    }
    const s = lastI * nC + c;
    slot[j] = s;
    start[s + 1]!++;
  }
  for (let s = 0; s < nI * nC; s++) start[s + 1]! += start[s]!;
  const fill = start.slice(0, nI * nC);
  const list = new Int32Array(start[nI * nC]!);
  for (let j = 0; j < n; j++) {
    const s = slot[j]!;
    if (s >= 0) list[fill[s]!++] = j;
  }
  return { start, list };
}

/**
 * IoU matrices [D x G] for one pair, with masks converted once and cached. Mask IoUs that cannot
 * reach `floor` may read 0 (see rleIou): COCOeval's IoUs stay internal, so only matching reads them.
 */
class IouComputer {
  private out = new Float64Array(256);
  private gtBoxes = new Float64Array(64);
  private dtBoxes = new Float64Array(64);
  private dtPlain = new Float64Array(16);
  private crowd = new Uint8Array(16);
  private gtRle: (Rle | undefined)[] = [];

  constructor(
    readonly ev: COCOeval,
    readonly iouType: IouType,
    /** IoUs below it are only compared with thresholds above them: rleIou may write 0 for them. */
    readonly floor: number,
  ) {}

  compute(gtIdx: Int32Array, G: number, kept: Int32Array, ks: number, D: number): Float64Array {
    if (this.out.length < G * D) this.out = new Float64Array(G * D * 2);
    if (this.crowd.length < G) this.crowd = new Uint8Array(G * 2);
    const ga = this.ev.cocoGt.annotations;
    for (let g = 0; g < G; g++) this.crowd[g] = ga.iscrowd[gtIdx[g]!]!;
    if (this.iouType === 'bbox') {
      if (this.gtBoxes.length < G * 4) this.gtBoxes = new Float64Array(G * 8);
      if (this.dtBoxes.length < D * 4) this.dtBoxes = new Float64Array(D * 8);
      const db = this.ev.cocoDt.bbox;
      for (let g = 0; g < G; g++) {
        const a = gtIdx[g]! * 4;
        for (let c = 0; c < 4; c++) this.gtBoxes[g * 4 + c] = ga.bbox[a + c]!;
      }
      for (let d = 0; d < D; d++) {
        const a = kept[ks + d]! * 4;
        for (let c = 0; c < 4; c++) this.dtBoxes[d * 4 + c] = db[a + c]!;
      }
      bbIou(this.dtBoxes, this.gtBoxes, D, G, this.crowd, this.out);
      return this.out;
    }
    const gr: Rle[] = [];
    if (this.gtBoxes.length < G * 4) this.gtBoxes = new Float64Array(G * 8);
    const gb = this.gtBoxes;
    for (let g = 0; g < G; g++) {
      gr.push(this.gtMask(gtIdx[g]!));
      rleToBbox(gr[g]!, gb, g * 4);
    }
    const dt = this.ev.cocoDt;
    if (this.dtBoxes.length < D * 4) this.dtBoxes = new Float64Array(D * 8);
    if (this.dtPlain.length < D) this.dtPlain = new Float64Array(D * 2);
    const dr: Rle[] = [];
    for (let d = 0; d < D; d++) {
      const r = kept[ks + d]!;
      this.dtPlain[d] = dt.compressed.plainArea[r]!;
      // loadRes already computed toBbox of masks given without a box: reuse it for the pre-check
      if (dt.bboxFromMask[r]) {
        for (let c = 0; c < 4; c++) this.dtBoxes[d * 4 + c] = dt.bbox[r * 4 + c]!;
        dr.push(NOT_DECODED);
      } else {
        dr.push(this.dtMask(r));
        rleToBbox(dr[d]!, this.dtBoxes, d * 4);
      }
    }
    // rleIou repeats this box pre-check; masks are decoded only where some box overlaps
    bbIou(this.dtBoxes, gb, D, G, this.crowd, this.out);
    for (let d = 0; d < D; d++) {
      if (dr[d] !== NOT_DECODED) continue;
      for (let g = 0; g < G; g++) {
        if (this.out[d * G + g]! > 0) {
          dr[d] = this.dtMask(kept[ks + d]!);
          break;
        }
      }
    }
    rleIou(dr, gr, this.crowd, this.out, 0, { dtBoxes: this.dtBoxes, gtBoxes: gb, dtPlainArea: this.dtPlain, floor: this.floor });
    return this.out;
  }

  /** annToRLE for ground truth: polygons are rasterized at the image size and merged. */
  private gtMask(i: number): Rle {
    let r = this.gtRle[i];
    if (r) return r;
    const gt = this.ev.cocoGt;
    const a = gt.annotations;
    const im = gt.image(a.imageId[i]!)!;
    switch (a.segKind[i]) {
      case SegKind.Polygons: {
        const parts: Rle[] = [];
        for (let p = a.segRef[i]!, e = p + a.segCount[i]!; p < e; p++) {
          const xy = a.polygons.coords(p);
          parts.push(rleFrPoly(xy, xy.length >> 1, im.height, im.width));
        }
        // rleMerge of one mask is a copy of it
        r = parts.length === 1 ? parts[0]! : rleMerge(parts, false);
        break;
      }
      case SegKind.RleCompressed: {
        const o = a.rles[a.segRef[i]!]!;
        r = rleFrString(o.counts as string, o.size[0], o.size[1]);
        break;
      }
      case SegKind.RleUncompressed: {
        const o = a.rles[a.segRef[i]!]!;
        r = { h: o.size[0], w: o.size[1], cnts: Uint32Array.from(o.counts as number[]) };
        break;
      }
      default:
        throw new Error(`${gt.label}: annotation id ${a.id[i]} has no segmentation, which segm evaluation needs`);
    }
    this.gtRle[i] = r;
    return r;
  }

  /** annToRLE for a result: its mask, or its box as a polygon when it has none (loadRes). Not cached: each result is in one pair. */
  private dtMask(i: number): Rle {
    const dt = this.ev.cocoDt;
    const r = dt.rles?.[i];
    if (r) return r;
    const im = this.ev.cocoGt.image(dt.imageId[i]!)!;
    const c = compressedRuns(dt, i, im.height, im.width);
    if (c) return c;
    const seg = dt.segmentation?.[i];
    if (seg !== undefined) return toRunsForImage(seg, im.height, im.width);
    const b = dt.bbox;
    const x1 = b[i * 4]!;
    const y1 = b[i * 4 + 1]!;
    const x2 = x1 + b[i * 4 + 2]!;
    const y2 = y1 + b[i * 4 + 3]!;
    return rleMerge([rleFrPoly([x1, y1, x1, y2, x2, y2, x2, y1], 4, im.height, im.width)], false);
  }
}

/** Placeholder for a detection whose box overlaps no ground truth: rleIou never reads its runs. */
const NOT_DECODED: Rle = { h: -1, w: -1, cnts: new Uint32Array(0) };
