import { describe, expect, it } from 'vitest';
import { COCOeval, defaultParams, loadInstances, loadResults } from '../src/index.js';
import { fixturePath, readFixture } from './fixtures.js';

const TOL = 1e-9;

function maxAbsDiff(got: ArrayLike<number>, want: ArrayLike<number>): { max: number; at: number } {
  let max = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    if (d > max || Number.isNaN(d)) {
      max = Number.isNaN(d) ? Infinity : d;
      at = i;
    }
  }
  return { max, at };
}

for (const name of ['bbox-seed1', 'segm-seed1'] as const) {
  describe(`COCOeval against pycocotools (${name})`, async () => {
    const expected = readFixture(`${name}/expected.json`);
    const gt = await loadInstances(fixturePath(`${name}/gt.json`));
    const dt = await loadResults(gt, fixturePath(`${name}/results.json`));
    const E = new COCOeval(gt, dt, expected.iouType);
    E.evaluate();
    E.accumulate();
    const summary = E.summarize();

    it('uses the same parameters', () => {
      const p = defaultParams(expected.iouType);
      expect(p.iouThrs).toEqual(expected.params.iouThrs);
      expect(p.iouThrs[8]).toBe(0.8999999999999999);
      expect(p.recThrs).toEqual(expected.params.recThrs);
      expect(p.maxDets).toEqual(expected.params.maxDets);
      expect(p.areaRng).toEqual(expected.params.areaRng);
      expect(E.params.catIds).toEqual(expected.params.catIds);
    });

    it('has the expected counts', () => {
      expect(gt.images.length).toBe(expected.counts.images);
      expect(gt.annotations.count).toBe(expected.counts.gt_annotations);
      expect(dt.count).toBe(expected.counts.detections);
    });

    it('reproduces precision [T,R,K,A,M] entry by entry', () => {
      expect(E.eval!.counts).toEqual(expected.precision.shape);
      expect(E.eval!.precisionShape).toEqual(expected.precision.shape);
      expect(E.eval!.scores.length).toBe(expected.precision.data.length);
      expect(E.eval!.precision.length).toBe(expected.precision.data.length);
      const d = maxAbsDiff(E.eval!.precision, expected.precision.data);
      expect(d.max, `first worst at flat index ${d.at}`).toBeLessThanOrEqual(TOL);
    });

    it('reproduces recall [T,K,A,M] entry by entry', () => {
      expect(E.eval!.recallShape).toEqual(expected.recall.shape);
      expect(E.eval!.recall.length).toBe(expected.recall.data.length);
      const d = maxAbsDiff(E.eval!.recall, expected.recall.data);
      expect(d.max, `worst at flat index ${d.at}`).toBeLessThanOrEqual(TOL);
    });

    it('reproduces the 12 stats', () => {
      expect(summary.stats).toHaveLength(12);
      summary.stats.forEach((s, i) => expect(Math.abs(s - expected.stats[i]), `stats[${i}]`).toBeLessThanOrEqual(TOL));
    });

    it('is bit-exact (same float64 operations in the same order as pycocotools / numpy)', () => {
      expect(summary.stats).toEqual(expected.stats);
      expect(Array.from(E.eval!.precision)).toEqual(expected.precision.data);
      expect(Array.from(E.eval!.recall)).toEqual(expected.recall.data);
    });

    it('prints the same summary text', () => {
      expect(summary.lines).toEqual(expected.summary_text);
    });

    it('reproduces the per-category table', () => {
      const rows = E.perCategory();
      expect(rows.map((r) => String(r.id)).sort()).toEqual(Object.keys(expected.per_category).sort());
      for (const r of rows) {
        const want = expected.per_category[String(r.id)];
        expect(r.name).toBe(want.name);
        for (const key of ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100'] as const) {
          expect(Math.abs(r[key] - want[key]), `${r.id}.${key}`).toBeLessThanOrEqual(TOL);
        }
        expect(r.numGt).toBe(want.num_gt);
        expect(r.numGtCrowd).toBe(want.num_gt_crowd);
        expect(r.numDets).toBe(want.num_dets);
      }
    });

    it('warns about the unknown category of the results', () => {
      expect(dt.warnings.join('\n')).toContain(String(expected.dataset_notes.unknown_category_in_results));
    });
  });
}
