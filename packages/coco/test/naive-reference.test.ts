import { describe, expect, it } from 'vitest';
import { type Box, COCOeval, type CocoDataset, type CocoResult, instancesFrom, iou, resultsFrom } from '../src/index.js';

/**
 * A line-by-line transliteration of pycocotools' evaluate / accumulate on plain arrays, used to
 * check the typed-array evaluator (bucketing, pruned matching, one sort per category, curves from
 * true positives only) on random problems with ties, crowds, boundary areas and crowded images.
 */
const IOU_THRS = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.8999999999999999, 0.95];

function naive(ds: CocoDataset, res: CocoResult[], useCats: boolean, maxDets: number[], iouThrs = IOU_THRS) {
  const recThrs = Array.from({ length: 101 }, (_, i) => i * 0.01);
  const areaRng = [[0, 1e10], [0, 1024], [1024, 9216], [9216, 1e10]] as const;
  const imgIds = ds.images.map((i) => i.id).sort((a, b) => a - b);
  const catIds = ds.categories.map((c) => c.id).sort((a, b) => a - b);
  const dts = res.map((r, i) => ({ ...r, id: i + 1, area: r.bbox![2] * r.bbox![3] }));
  const keys = useCats ? catIds : [-1];
  const sel = <T extends { image_id: number; category_id: number }>(l: T[], img: number, cat: number) =>
    useCats ? l.filter((x) => x.image_id === img && x.category_id === cat) : catIds.flatMap((c) => l.filter((x) => x.image_id === img && x.category_id === c));
  const stableBy = <T,>(l: T[], key: (x: T) => number) => l.map((x, i) => [x, i] as const).sort((a, b) => key(a[0]) - key(b[0]) || a[1] - b[1]).map((p) => p[0]);
  const T = iouThrs.length, R = recThrs.length, K = keys.length, A = 4, M = maxDets.length;
  const evalImgs = new Map<string, { dtScores: number[]; dtm: number[][]; dtIg: boolean[][]; gtIg: number[] }>();
  for (const [k, cat] of keys.entries())
    for (let a = 0; a < A; a++)
      for (const img of imgIds) {
        const gtAll = sel(ds.annotations, img, cat);
        const dtAll = sel(dts, img, cat);
        if (gtAll.length === 0 && dtAll.length === 0) continue;
        const [lo, hi] = areaRng[a]!;
        const ig = (g: (typeof gtAll)[number]) => (g.iscrowd || g.area < lo || g.area > hi ? 1 : 0);
        const gt = stableBy(gtAll, ig);
        const dt = stableBy(dtAll, (d) => -d.score).slice(0, maxDets[M - 1]);
        const ious = gt.length && dt.length ? iou(dt.map((d) => d.bbox as Box), gt.map((g) => g.bbox), gt.map((g) => g.iscrowd ?? 0)) : [];
        const gtIg = gt.map(ig);
        const gtm = iouThrs.map(() => gt.map(() => 0));
        const dtm = iouThrs.map(() => dt.map(() => 0));
        const dtIg = iouThrs.map(() => dt.map(() => false));
        iouThrs.forEach((t, ti) =>
          dt.forEach((d, di) => {
            let best = Math.min(t, 1 - 1e-10);
            let m = -1;
            for (let gi = 0; gi < gt.length; gi++) {
              if (gtm[ti]![gi]! > 0 && !gt[gi]!.iscrowd) continue;
              if (m > -1 && gtIg[m] === 0 && gtIg[gi] === 1) break;
              if (ious[di]![gi]! < best) continue;
              best = ious[di]![gi]!;
              m = gi;
            }
            if (m === -1) return;
            dtIg[ti]![di] = gtIg[m] === 1;
            dtm[ti]![di] = gt[m]!.id;
            gtm[ti]![m] = d.id;
          }),
        );
        iouThrs.forEach((_, ti) => dt.forEach((d, di) => (dtIg[ti]![di] ||= dtm[ti]![di] === 0 && (d.area < lo || d.area > hi))));
        evalImgs.set(`${k},${a},${img}`, { dtScores: dt.map((d) => d.score), dtm, dtIg, gtIg });
      }
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  const scores = new Float64Array(T * R * K * A * M).fill(-1);
  for (let k = 0; k < K; k++)
    for (let a = 0; a < A; a++)
      for (let m = 0; m < M; m++) {
        const E = imgIds.map((img) => evalImgs.get(`${k},${a},${img}`)).filter((e) => e !== undefined);
        if (E.length === 0) continue;
        const sc = E.flatMap((e) => e.dtScores.slice(0, maxDets[m]));
        const inds = stableBy(sc.map((_, i) => i), (i) => -sc[i]!);
        const npig = E.flatMap((e) => e.gtIg).filter((g) => g === 0).length;
        if (npig === 0) continue;
        for (let t = 0; t < T; t++) {
          const dtm = E.flatMap((e) => e.dtm[t]!.slice(0, maxDets[m]));
          const dtIg = E.flatMap((e) => e.dtIg[t]!.slice(0, maxDets[m]));
          let tp = 0, fp = 0;
          const rc: number[] = [], pr: number[] = [];
          for (const i of inds) {
            if (dtm[i] && !dtIg[i]) tp++;
            if (!dtm[i] && !dtIg[i]) fp++;
            rc.push(tp / npig);
            pr.push(tp / (fp + tp + 2.220446049250313e-16));
          }
          recall[((t * K + k) * A + a) * M + m] = inds.length ? rc[rc.length - 1]! : 0;
          for (let i = pr.length - 1; i > 0; i--) if (pr[i]! > pr[i - 1]!) pr[i - 1] = pr[i]!;
          let failed = false;
          for (let r = 0; r < R; r++) {
            let pi = 0;
            while (pi < rc.length && rc[pi]! < recThrs[r]!) pi++;
            const at = (((t * R + r) * K + k) * A + a) * M + m;
            if (failed || pi >= rc.length) failed = true;
            precision[at] = failed ? 0 : pr[pi]!;
            scores[at] = failed ? 0 : sc[inds[pi]!]!;
          }
        }
      }
  return { precision, recall, scores };
}

function randomProblem(seed: number): { ds: CocoDataset; res: CocoResult[] } {
  let s = seed >>> 0;
  const rand = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const pick = <T,>(l: T[]): T => l[Math.floor(rand() * l.length)]!;
  const images = Array.from({ length: 12 }, (_, i) => ({ id: 50 - i * 3, width: 300, height: 200 }));
  const categories = [{ id: 7, name: 'a' }, { id: 2, name: 'b' }, { id: 11, name: 'c' }];
  const annotations: CocoDataset['annotations'] = [];
  const res: CocoResult[] = [];
  const sizes = [10, 20, 32, 40, 60, 96, 120];
  for (const im of images) {
    const n = im.id === 50 ? 0 : Math.floor(rand() * 8);
    for (let j = 0; j < n; j++) {
      const w = pick(sizes), h = pick(sizes);
      const bbox: Box = [Math.floor(rand() * 150), Math.floor(rand() * 80), w, h];
      annotations.push({ id: annotations.length + 1, image_id: im.id, category_id: pick(categories).id, bbox, area: rand() < 0.3 ? w * h : Math.round(w * h * rand() * 2), iscrowd: rand() < 0.1 ? 1 : 0 });
    }
    const nd = im.id === 47 ? 130 : Math.floor(rand() * 25);
    const mine = annotations.filter((a) => a.image_id === im.id);
    for (let j = 0; j < nd; j++) {
      const g = mine.length && rand() < 0.7 ? pick(mine) : null;
      const bbox: Box = g ? [g.bbox[0] + Math.floor(rand() * 9) - 4, g.bbox[1] + Math.floor(rand() * 9) - 4, g.bbox[2] + Math.floor(rand() * 7) - 3, g.bbox[3]] : [Math.floor(rand() * 200), Math.floor(rand() * 100), pick(sizes), pick(sizes)];
      res.push({ image_id: im.id, category_id: g && rand() < 0.8 ? g.category_id : pick(categories).id, bbox, score: Math.floor(rand() * 10) / 10 });
    }
  }
  return { ds: { images, categories, annotations }, res };
}

describe('COCOeval against a naive transliteration of pycocotools', () => {
  for (const seed of [1, 2, 3]) {
    for (const useCats of [true, false]) {
      it(`seed ${seed}, useCats ${useCats}: precision, recall and scores identical`, () => {
        const { ds, res } = randomProblem(seed);
        const maxDets = [1, 4, 100];
        const want = naive(ds, res, useCats, maxDets);
        const gt = instancesFrom(ds);
        const E = new COCOeval(gt, resultsFrom(gt, res), 'bbox');
        E.params.useCats = useCats;
        E.params.maxDets = maxDets;
        E.evaluate();
        E.accumulate();
        expect(Array.from(E.eval!.recall)).toEqual(Array.from(want.recall));
        expect(Array.from(E.eval!.precision)).toEqual(Array.from(want.precision));
        expect(Array.from(E.eval!.scores)).toEqual(Array.from(want.scores));
        expect(E.eval!.precision.some((v) => v > 0 && v < 1)).toBe(true);
      });
    }
  }

  // thresholds low and high: the evaluator skips detections whose IoUs are all below the least
  for (const useCats of [true, false]) {
    it(`seed 4, useCats ${useCats}, IoU thresholds 0.05 to 0.95: precision, recall and scores identical`, () => {
      const { ds, res } = randomProblem(4);
      const maxDets = [1, 10, 100];
      const iouThrs = [0.05, 0.3, 0.55, 0.95];
      const want = naive(ds, res, useCats, maxDets, iouThrs);
      const gt = instancesFrom(ds);
      const E = new COCOeval(gt, resultsFrom(gt, res), 'bbox');
      E.params.useCats = useCats;
      E.params.maxDets = maxDets;
      E.params.iouThrs = iouThrs;
      E.evaluate();
      E.accumulate();
      expect(Array.from(E.eval!.recall)).toEqual(Array.from(want.recall));
      expect(Array.from(E.eval!.precision)).toEqual(Array.from(want.precision));
      expect(Array.from(E.eval!.scores)).toEqual(Array.from(want.scores));
      expect(E.eval!.precision.some((v) => v > 0 && v < 1)).toBe(true);
    });
  }
});
