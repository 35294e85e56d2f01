import { describe, expect, it } from 'vitest';
import { ConfusionMatrix, formatSegTable, mmsegMetrics, segMetricsJson } from '../src/index.js';

/** mmseg's intersect_and_union per image (mask out ignore, histograms), summed over images, then compute_metrics. */
function naiveMmseg(images: { pred: Uint8Array; gt: Uint8Array }[], K: number, ignore = 255) {
  const inter = new Array<number>(K).fill(0);
  const predA = new Array<number>(K).fill(0);
  const labelA = new Array<number>(K).fill(0);
  for (const { pred, gt } of images) {
    for (let i = 0; i < gt.length; i++) {
      if (gt[i] === ignore) continue;
      predA[pred[i]!]!++;
      labelA[gt[i]!]!++;
      if (pred[i] === gt[i]) inter[gt[i]!]!++;
    }
  }
  const iou = inter.map((v, k) => v / (predA[k]! + labelA[k]! - v));
  const acc = inter.map((v, k) => v / labelA[k]!);
  const nanmean = (a: number[]) => {
    const f = a.filter((v) => !Number.isNaN(v));
    return f.reduce((s, v) => s + v, 0) / f.length;
  };
  return { aAcc: inter.reduce((s, v) => s + v, 0) / labelA.reduce((s, v) => s + v, 0), mIoU: nanmean(iou), mAcc: nanmean(acc), iou, acc };
}

function randomImages(n: number, K: number, seed: number) {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  return Array.from({ length: n }, () => {
    const len = 50 + Math.floor(rand() * 200);
    const gt = new Uint8Array(len).map(() => (rand() < 0.1 ? 255 : Math.floor(rand() * (K - 1)))); // class K-1 never labelled
    const pred = gt.map((g) => (rand() < 0.6 && g !== 255 ? g : Math.floor(rand() * (K - 1)) + (rand() < 0.05 ? 1 : 0)));
    return { pred, gt };
  });
}

describe("mmseg's IoUMetric from the confusion matrix", () => {
  it('equals a naive per-pixel computation over the split (aAcc, mIoU, mAcc, per-class)', () => {
    const K = 6;
    const images = randomImages(40, K, 7);
    const cm = new ConfusionMatrix(K);
    for (const im of images) cm.update(im.pred, im.gt);
    const got = mmsegMetrics(cm);
    const ref = naiveMmseg(images, K);
    expect(got.aAcc).toBeCloseTo(ref.aAcc, 14);
    expect(got.mIoU).toBeCloseTo(ref.mIoU, 14);
    expect(got.mAcc).toBeCloseTo(ref.mAcc, 14);
    got.perClass.forEach((c, k) => {
      if (Number.isNaN(ref.iou[k]!)) expect(c.IoU).toBeNaN();
      else expect(c.IoU).toBeCloseTo(ref.iou[k]!, 14);
      if (Number.isNaN(ref.acc[k]!)) expect(c.Acc).toBeNaN();
      else expect(c.Acc).toBeCloseTo(ref.acc[k]!, 14);
    });
    // Class K-1 is predicted now and then but never labelled: IoU 0 (counted in mIoU), Acc NaN.
    expect(got.perClass[K - 1]!.IoU).toBe(0);
    expect(got.perClass[K - 1]!.Acc).toBeNaN();
  });

  it('does not depend on batching or order: shards merged in another order give identical numbers', () => {
    const K = 5;
    const images = randomImages(30, K, 99);
    const one = new ConfusionMatrix(K);
    for (const im of images) one.update(im.pred, im.gt);
    const shards = [new ConfusionMatrix(K), new ConfusionMatrix(K), new ConfusionMatrix(K)];
    [...images].reverse().forEach((im, i) => shards[i % 3]!.update(im.pred, im.gt));
    const merged = new ConfusionMatrix(K);
    for (const s of [shards[2]!, shards[0]!, shards[1]!]) merged.merge(s);
    expect(mmsegMetrics(merged)).toEqual(mmsegMetrics(one));
  });

  it('a class neither labelled nor predicted is NaN and left out of the means; hand-computed case', () => {
    const cm = new ConfusionMatrix(4);
    cm.update(Uint8Array.from([0, 1, 1, 1, 0, 2, 1, 0]), Uint8Array.from([0, 0, 1, 1, 2, 255, 1, 0]));
    const m = mmsegMetrics(cm, ['a', 'b', 'c', 'd']);
    // intersect [2, 3, 0, 0], pred [3, 4, 0, 0] (the ignored pixel's prediction does not count), label [3, 3, 1, 0]
    expect(m.perClass.map((c) => c.IoU)).toEqual([0.5, 0.75, 0, NaN]);
    expect(m.perClass.map((c) => c.Acc)).toEqual([2 / 3, 1, 0, NaN]);
    expect(m.mIoU).toBeCloseTo(1.25 / 3, 15);
    expect(m.aAcc).toBeCloseTo(5 / 7, 15);
    const json = segMetricsJson(m) as { perClass: { IoU: number | null }[] };
    expect(json.perClass[3]!.IoU).toBeNull();
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
    const table = formatSegTable(m);
    expect(table).toMatch(/^b\s+\|\s+75\.00 \| 100\.00$/m);
    expect(table).toMatch(/aAcc 71\.43  mIoU 41\.67  mAcc 55\.56/);
  });
});
