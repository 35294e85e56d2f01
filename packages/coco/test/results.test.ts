import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COCOeval, CocoFormatError, type CocoDataset, encode, instancesFrom, loadResults, resultsFrom } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'coco-results-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ds: CocoDataset = {
  images: [
    { id: 1, width: 100, height: 80 },
    { id: 2, width: 50, height: 50 },
  ],
  categories: [
    { id: 3, name: 'a' },
    { id: 4, name: 'b' },
  ],
  annotations: [
    { id: 1, image_id: 1, category_id: 3, bbox: [10, 10, 40, 40], area: 1600, iscrowd: 0, segmentation: [[10, 10, 50, 10, 50, 50, 10, 50]] },
    { id: 2, image_id: 2, category_id: 4, bbox: [0, 0, 20, 20], area: 400, iscrowd: 0, segmentation: [[0, 0, 20, 0, 20, 20, 0, 20]] },
  ],
};
const gt = instancesFrom(ds, 'gt.json');

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CocoFormatError);
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

describe('results validation (loadRes)', () => {
  it('names every image id that is not in the ground truth', () => {
    const msg = messageOf(() =>
      resultsFrom(gt, [
        { image_id: 1, category_id: 3, bbox: [0, 0, 1, 1], score: 1 },
        { image_id: 42, category_id: 3, bbox: [0, 0, 1, 1], score: 1 },
        { image_id: 43, category_id: 3, bbox: [0, 0, 1, 1], score: 1 },
        { image_id: 42, category_id: 3, bbox: [0, 0, 1, 1], score: 1 },
      ], 'res.json'),
    );
    expect(msg).toBe('res.json: image_id: 2 image ids are not in the ground truth (gt.json): 42, 43 (first at results[1])');
  });

  it('reports NaN written by Python, negative scores, negative widths, short polygons and RLE sizes', async () => {
    const path = join(dir, 'bad.json');
    const rle = encode(new Uint8Array(10 * 10), 10, 10);
    writeFileSync(
      path,
      `[{"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5},
        {"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": NaN},
        {"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": -0.1},
        {"image_id": 1, "category_id": 3, "bbox": [1, 2, -3, 4], "score": 0.2},
        {"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.2, "segmentation": [[1, 2, 3, 4]]},
        {"image_id": 2, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.2, "segmentation": ${JSON.stringify(rle)}},
        {"image_id": 2, "category_id": 3, "score": 0.2},
        {"image_id": 2, "category_id": 3, "bbox": [1, 2, 3, Infinity], "score": 0.2}]`,
    );
    await expect(loadResults(gt, path)).rejects.toThrow(CocoFormatError);
    const msg = await loadResults(gt, path).catch((e: Error) => e.message);
    expect(msg).toContain('bad.json: results[1].score: expected a finite number >= 0, got NaN');
    expect(msg).toContain('bad.json: results[2].score: expected a finite number >= 0, got -0.1');
    expect(msg).toContain('bad.json: results[3].bbox: negative width -3 in [1, 2, -3, 4]');
    expect(msg).toContain('bad.json: results[4].segmentation[0]: expected a polygon of at least 3 points (6 numbers), got 2 points [1, 2, 3, 4]');
    expect(msg).toContain('bad.json: results[5].segmentation.size: [10, 10] disagrees with image 2 (height 50, width 50)');
    expect(msg).toContain('bad.json: results[6].bbox: missing (results[0] has a box');
    expect(msg).toContain('bad.json: results[7].bbox: expected 4 finite numbers, got [1, 2, 3, Infinity]');
  });

  it('rejects a top-level object and entries with neither box nor mask', () => {
    expect(messageOf(() => resultsFrom(gt, Buffer.from('{"annotations": []}'), 'r.json'))).toContain('r.json: top level: expected an array of results');
    expect(messageOf(() => resultsFrom(gt, [{ image_id: 1, category_id: 3, score: 1 }], 'r.json'))).toContain('r.json: results[0].bbox: expected a box [x, y, w, h] or a segmentation, got neither');
  });

  it('takes areas from boxes when results[0] has a box, else from masks (as loadRes)', () => {
    const mask = new Uint8Array(80 * 100);
    mask.fill(1, 0, 80 * 3); // 3 full columns = 240 pixels
    const seg = encode(mask, 80, 100);
    const boxFirst = resultsFrom(gt, [
      { image_id: 1, category_id: 3, bbox: [0, 0, 10, 10], score: 0.9, segmentation: seg },
      { image_id: 1, category_id: 3, bbox: [0, 0, 5, 5], score: 0.8 },
    ]);
    expect(boxFirst.areaFrom).toBe('bbox');
    expect(Array.from(boxFirst.area)).toEqual([100, 25]);
    const maskFirst = resultsFrom(gt, [{ image_id: 1, category_id: 3, score: 0.9, segmentation: seg }]);
    expect(maskFirst.areaFrom).toBe('segm');
    expect(Array.from(maskFirst.area)).toEqual([240]);
    expect(Array.from(maskFirst.bbox)).toEqual([0, 0, 3, 80]);
  });

  it('reads an empty results file as an empty list', async () => {
    const path = join(dir, 'empty.json');
    writeFileSync(path, ' [ ] ');
    const dt = await loadResults(gt, path);
    expect(dt.count).toBe(0);
    expect(dt.warnings[0]).toContain('empty.json: the result list is empty');
  });

  it('an empty result list gives an explicit warning, zeros where there is ground truth and -1 elsewhere', () => {
    const dt = resultsFrom(gt, [], 'empty.json');
    expect(dt.warnings[0]).toContain('empty.json: the result list is empty');
    for (const iouType of ['bbox', 'segm'] as const) {
      const E = new COCOeval(gt, dt, iouType);
      E.evaluate();
      E.accumulate();
      const s = E.summarize();
      expect(s.stats).toEqual([0, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0, -1]);
      expect(s.lines[0]).toBe(' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.000');
      expect(s.lines[5]).toBe(' Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000');
    }
  });
});
