import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeShapesDataset, type ImageMeta } from '@partialnet/data';
import type { Detections } from '@partialnet/detection';
import { CocoEvaluator, TopKEvaluator, openDetectionSplit, type DetectionSplit } from '../src/index.js';

let root: string;
let split: DetectionSplit;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'partialnet-evaluator-'));
  await writeShapesDataset(join(root, 'shapes'), { images: 10, width: 64, height: 64, seed: 3, valFraction: 0.4, format: 'png' });
  split = await openDetectionSplit(join(root, 'shapes'), 'val', { withMasks: false });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The ground truth of image i as detections (score 1), with the meta the evaluator reads. */
function perfect(i: number): { meta: ImageMeta; dets: Detections } {
  const r = split.dataset.record(i);
  const n = r.labels!.length;
  return { meta: { imageId: r.imageId } as ImageMeta, dets: { boxes: Float32Array.from(r.boxes!), scores: new Float32Array(n).fill(1), labels: Int32Array.from(r.labels!) } };
}

describe('CocoEvaluator', () => {
  it('two merged shards give the results file and AP of one evaluator over all images', async () => {
    const o = { gt: split.gt, labelToCategoryId: split.categoryIds, iouTypes: ['bbox'] as const };
    const all = new CocoEvaluator({ ...o, outDir: join(root, 'one') });
    const a = new CocoEvaluator({ ...o, outDir: join(root, 'sharded') });
    const b = new CocoEvaluator({ ...o, outDir: join(root, 'sharded') });
    await Promise.all([all.reset(), a.reset(), b.reset()]);
    const n = split.dataset.length;
    expect(n).toBeGreaterThan(2);
    for (let i = 0; i < n; i++) {
      const { meta, dets } = perfect(i);
      await all.process([meta], [dets]);
      await (i < n / 2 ? a : b).process([meta], [dets]);
    }
    await a.merge(b);
    const [m1, m2] = [await all.evaluate(), await a.evaluate()];
    expect(m2).toEqual(m1);
    expect(m1.bbox_mAP).toBeCloseTo(1, 12);
    expect(a.images).toBe(n);
    const file = (d: string) => JSON.parse(readFileSync(join(root, d, 'results.val.bbox.json'), 'utf8')) as { image_id: number }[];
    expect(file('sharded').length).toBe(file('one').length);
    expect(readdirSync(join(root, 'sharded'))).toEqual(['results.val.bbox.json']);
  });

  it('reset() before process() is required, and abort() leaves no temporary file', async () => {
    const e = new CocoEvaluator({ gt: split.gt, labelToCategoryId: split.categoryIds, iouTypes: ['bbox'], outDir: join(root, 'aborted') });
    await expect(e.process([], [])).rejects.toThrow(/reset/);
    await e.reset();
    const { meta, dets } = perfect(0);
    await e.process([meta], [dets]);
    await e.abort();
    expect(readdirSync(join(root, 'aborted'))).toEqual([]);
  });
});

describe('TopKEvaluator', () => {
  it('counts top-1 / top-k with ties against the label, and merges shards exactly', () => {
    // 3 classes, k = 2. Sample 0: label 0 best; sample 1: label 2 second; sample 2: all three tied,
    // which counts as rank 2 for the label (ties go against it), so neither top-1 nor top-2.
    const logits = [3, 1, 0, 0, 2, 1, 1, 1, 1];
    const labels = [0, 2, 1];
    const one = new TopKEvaluator(3, 2);
    one.process({ labels }, { logits, losses: [0.1, 0.5, 0.9] });
    const m = one.evaluate();
    expect(Object.keys(m).sort()).toEqual(['top1', 'top2', 'valLoss']);
    expect(m.top1).toBeCloseTo(100 / 3, 10);
    expect(m.top2).toBeCloseTo(200 / 3, 10);
    expect(m.valLoss).toBeCloseTo(0.5, 12);
    const a = new TopKEvaluator(3, 2);
    const b = new TopKEvaluator(3, 2);
    a.process({ labels: labels.slice(0, 1) }, { logits: logits.slice(0, 3), losses: [0.1] });
    b.process({ labels: labels.slice(1) }, { logits: logits.slice(3), losses: [0.5, 0.9] });
    a.merge(b);
    const merged = a.evaluate();
    for (const k of Object.keys(m)) expect(merged[k], k).toBeCloseTo(m[k]!, 12);
    a.reset();
    expect(a.images).toBe(0);
  });
});
