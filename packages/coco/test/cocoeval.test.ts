import { describe, expect, it } from 'vitest';
import { COCOeval, type CocoDataset, type CocoResult, instancesFrom, resultsFrom } from '../src/index.js';

function dataset(anns: Partial<CocoDataset['annotations'][number]>[]): CocoDataset {
  return {
    images: [
      { id: 1, width: 200, height: 200 },
      { id: 2, width: 200, height: 200 },
      { id: 3, width: 200, height: 200 },
    ],
    categories: [
      { id: 1, name: 'one' },
      { id: 2, name: 'two' },
      { id: 9, name: 'none' },
    ],
    annotations: anns.map((a, i) => ({ id: i + 1, image_id: 1, category_id: 1, bbox: [0, 0, 50, 50], area: 2500, iscrowd: 0, ...a })) as CocoDataset['annotations'],
  };
}

function run(ds: CocoDataset, res: CocoResult[], setup?: (E: COCOeval) => void) {
  const gt = instancesFrom(ds);
  const E = new COCOeval(gt, resultsFrom(gt, res), 'bbox');
  setup?.(E);
  E.evaluate();
  E.accumulate();
  return { E, stats: E.summarize().stats };
}

/** pycocotools' precision of a lone true positive is 1 / (1 + eps), not 1. */
function expectStats(got: number[], want: number[]): void {
  expect(got).toHaveLength(want.length);
  got.forEach((v, i) => expect(v, `stats[${i}]`).toBeCloseTo(want[i]!, 12));
}

const det = (image_id: number, category_id: number, bbox: number[], score: number): CocoResult => ({ image_id, category_id, bbox: bbox as CocoResult['bbox'], score });

describe('COCOeval semantics', () => {
  type Ann = Partial<CocoDataset['annotations'][number]>;
  const gts: Ann[] = [
    { image_id: 1, category_id: 1, bbox: [0, 0, 50, 50] },
    { image_id: 2, category_id: 2, bbox: [100, 100, 60, 60], area: 3600 },
  ];

  it('perfect detections give AP = AR = 1, and -1 for the empty area ranges and category', () => {
    const { E, stats } = run(dataset(gts), [det(1, 1, [0, 0, 50, 50], 0.9), det(2, 2, [100, 100, 60, 60], 0.8)]);
    expectStats(stats, [1, 1, 1, -1, 1, -1, 1, 1, 1, -1, 1, -1]);
    const rows = E.perCategory();
    expect(rows.map((r) => r.id)).toEqual([1, 2, 9]);
    expect(rows[2]!.AP).toBe(-1);
    expect(rows[2]!.AR100).toBe(-1);
    expect(rows[0]!.numGt).toBe(1);
    expect(E.eval!.counts).toEqual([10, 101, 3, 4, 3]);
  });

  it('a false positive with a higher score halves precision at full recall', () => {
    const { E, stats } = run(dataset([gts[0]!]), [det(1, 1, [0, 0, 50, 50], 0.5), det(1, 1, [150, 150, 20, 20], 0.9)]);
    // precision 1/2 at every recall threshold (monotone from the right)
    expect(stats[0]).toBeCloseTo(0.5, 12);
    expect(stats[8]).toBe(1);
    // scores: recall 0 is reached at rank 0 (the false positive), every other threshold at the hit
    const at = (r: number): number => ((r * 3 + 0) * 4 + 0) * 3 + 2;
    expect(E.eval!.scores[at(0)]).toBe(0.9);
    expect(E.eval!.scores[at(1)]).toBe(0.5);
    expect(E.eval!.scores[at(100)]).toBe(0.5);
    expect(E.eval!.precision[at(0)]).toBe(1 / (2 + 2.220446049250313e-16));
  });

  it('detections on a crowd region are ignored, not false positives', () => {
    const ds = dataset([gts[0]!, { image_id: 1, category_id: 1, bbox: [100, 100, 90, 90], area: 8100, iscrowd: 1 }]);
    const base = run(ds, [det(1, 1, [0, 0, 50, 50], 0.5)]).stats;
    const withCrowdHit = run(ds, [det(1, 1, [0, 0, 50, 50], 0.5), det(1, 1, [120, 120, 30, 30], 0.4)]).stats;
    expect(withCrowdHit).toEqual(base);
  });

  it('useCats = false matches across categories', () => {
    const res = [det(1, 2, [0, 0, 50, 50], 0.9)];
    expect(run(dataset([gts[0]!]), res).stats[0]).toBe(0);
    const { E, stats } = run(dataset([gts[0]!]), res, (E) => {
      E.params.useCats = false;
    });
    expect(stats[0]).toBeCloseTo(1, 12);
    expect(E.eval!.counts[2]).toBe(1);
  });

  it('imgIds and catIds restrict the evaluation', () => {
    const res = [det(1, 1, [0, 0, 50, 50], 0.9)];
    const { E, stats } = run(dataset(gts), res, (E) => {
      E.params.imgIds = [1];
    });
    expect(stats[0]).toBeCloseTo(1, 12); // category 2's only object is in image 2, left out
    expect(E.perCategory()[1]!.AP).toBe(-1);
    const onlyTwo = run(dataset(gts), res, (E) => {
      E.params.catIds = [2];
    });
    expect(onlyTwo.stats[0]).toBe(0);
    expect(onlyTwo.E.eval!.counts[2]).toBe(1);
  });

  it('maxDets cuts per image and category after sorting by score', () => {
    const ds = dataset([gts[0]!, { image_id: 1, category_id: 1, bbox: [100, 0, 50, 50] }]);
    const { stats } = run(ds, [det(1, 1, [0, 0, 50, 50], 0.3), det(1, 1, [100, 0, 50, 50], 0.6)]);
    expect(stats[6]).toBe(0.5); // AR@1: one of two objects
    expect(stats[7]).toBe(1);
  });

  it('matches at IoU exactly 0.5 (>=) and follows pycocotools on a gt with id 0', () => {
    // detection [0,0,50,25] has IoU 0.5 with [0,0,50,50]
    const half = run(dataset([gts[0]!]), [det(1, 1, [0, 0, 50, 25], 0.9)]).E;
    expect(half.eval!.precision[0]).toBeCloseTo(1, 12); // t = 0.5, r = 0
    expect(half.eval!.precision[101 * 3 * 4 * 3]).toBe(0); // t = 0.55
    const ds = dataset([gts[0]!]);
    ds.annotations[0]!.id = 0;
    // pycocotools records the matched gt id and tests it against 0, so this match counts as a miss
    expect(run(ds, [det(1, 1, [0, 0, 50, 50], 0.9)]).stats[0]).toBe(0);
  });

  it('refuses to accumulate or summarize before evaluating', () => {
    const gt = instancesFrom(dataset(gts));
    const E = new COCOeval(gt, resultsFrom(gt, []), 'bbox');
    expect(() => E.accumulate()).toThrow(/evaluate/);
    expect(() => E.summarize()).toThrow(/accumulate/);
  });
});
