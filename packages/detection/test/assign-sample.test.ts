import { describe, expect, it } from 'vitest';
import { MaxIoUAssigner, RandomSampler } from '../src/ops.js';

const bboxes = [0, 0, 10, 10, 10, 10, 20, 20, 5, 5, 15, 15, 32, 32, 38, 42];
const gts = [0, 0, 10, 9, 0, 10, 10, 19];

describe('MaxIoUAssigner', () => {
  it('positives, negatives and gt max assignment (mmdet test case)', () => {
    const r = new MaxIoUAssigner({ posIouThr: 0.5, negIouThr: 0.5 }).assign(bboxes, gts, [2, 3]);
    // Box 2 has IoU 0.15 with gt 1, below posIouThr, but it is gt 1's best match.
    expect(Array.from(r.gtInds)).toEqual([1, 0, 2, 0]);
    expect(Array.from(r.labels)).toEqual([2, -1, 3, -1]);
    expect(r.maxOverlaps[0]).toBeCloseTo(0.9);
  });

  it('without low-quality matching, or below minPosIou, the gt max match is not made', () => {
    expect(Array.from(new MaxIoUAssigner({ posIouThr: 0.5, negIouThr: 0.5, matchLowQuality: false }).assign(bboxes, gts).gtInds)).toEqual([1, 0, 0, 0]);
    expect(Array.from(new MaxIoUAssigner({ posIouThr: 0.5, negIouThr: 0.5, minPosIou: 0.3 }).assign(bboxes, gts).gtInds)).toEqual([1, 0, 0, 0]);
  });

  it('ignores candidates inside ignore regions (IoF) and between the thresholds', () => {
    const b = [0, 0, 10, 10, 10, 10, 20, 20, 5, 5, 15, 15, 30, 32, 40, 42];
    const r = new MaxIoUAssigner({ posIouThr: 0.5, negIouThr: 0.5, ignoreIofThr: 0.5 }).assign(b, gts, [2, 3], [30, 30, 40, 40]);
    expect(Array.from(r.gtInds)).toEqual([1, 0, 2, -1]);
    const between = new MaxIoUAssigner({ posIouThr: 0.7, negIouThr: 0.3, matchLowQuality: false }).assign([0, 0, 10, 10], [0, 0, 10, 5]);
    expect(Array.from(between.gtInds)).toEqual([-1]);
  });

  it('assigns every candidate tied at a gt best IoU (gtMaxAssignAll), later gts win', () => {
    const cands = [0, 0, 10, 10, 0, 0, 10, 10, 50, 50, 60, 60];
    const g = [0, 0, 10, 30, 0, 0, 10, 30];
    expect(Array.from(new MaxIoUAssigner({ posIouThr: 0.5, negIouThr: 0.3 }).assign(cands, g).gtInds)).toEqual([2, 2, 0]);
    expect(Array.from(new MaxIoUAssigner({ posIouThr: 0.5, negIouThr: 0.3, gtMaxAssignAll: false }).assign(cands, g).gtInds)).toEqual([2, -1, 0]);
  });

  it('no gts: everything negative, except invalid candidates', () => {
    const r = new MaxIoUAssigner({ posIouThr: 0.5, negIouThr: 0.4 }).assign(bboxes, [], [], undefined, [1, 1, 0, 1]);
    expect(Array.from(r.gtInds)).toEqual([0, 0, -1, 0]);
  });
});

describe('RandomSampler', () => {
  const gtInds = Int32Array.from({ length: 200 }, (_, i) => (i % 10 === 0 ? 1 + (i % 3) : i % 7 === 0 ? -1 : 0));
  const assign = { numGts: 3, gtInds, maxOverlaps: new Float32Array(200), labels: new Int32Array(200) };

  it('draws num * posFraction positives at most and fills with negatives', () => {
    const s = new RandomSampler({ num: 16, posFraction: 0.25, seed: 3 }).sample(assign);
    expect(s.posInds.length).toBe(4);
    expect(s.negInds.length).toBe(12);
    for (const i of s.posInds) expect(gtInds[i]!).toBeGreaterThan(0);
    for (const i of s.negInds) expect(gtInds[i]).toBe(0);
    expect(new Set(s.negInds).size).toBe(12);
    const few = new RandomSampler({ num: 512, posFraction: 0.25 }).sample(assign);
    expect(few.posInds.length).toBe(20);
    expect(few.negInds.length).toBe(200 - 20 - 26);
    const bounded = new RandomSampler({ num: 16, posFraction: 0.25, negPosUb: 1 }).sample(assign);
    expect(bounded.negInds.length).toBe(4);
  });

  it('is deterministic for a seed', () => {
    const a = new RandomSampler({ num: 16, posFraction: 0.5, seed: 42 });
    const b = new RandomSampler({ num: 16, posFraction: 0.5, seed: 42 });
    for (let i = 0; i < 3; i++) {
      const x = a.sample(assign);
      const y = b.sample(assign);
      expect(Array.from(x.posInds)).toEqual(Array.from(y.posInds));
      expect(Array.from(x.negInds)).toEqual(Array.from(y.negInds));
    }
    const c = new RandomSampler({ num: 16, posFraction: 0.5, seed: 43 }).sample(assign);
    expect(Array.from(c.negInds)).not.toEqual(Array.from(new RandomSampler({ num: 16, posFraction: 0.5, seed: 42 }).sample(assign).negInds));
  });
});
