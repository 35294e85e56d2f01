import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CocoFormatError, type CocoDataset, instancesFrom, JsonSyntaxError, loadInstances } from '../src/index.js';
import { fixturePath, readFixture } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'coco-format-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function base(): CocoDataset {
  return {
    info: { description: 'tiny' },
    images: [
      { id: 1, width: 40, height: 30, file_name: 'a.jpg' },
      { id: 2, width: 20, height: 10, file_name: 'é "}, {" b.jpg' },
    ],
    categories: [{ id: 5, name: 'cat' }],
    annotations: [
      { id: 10, image_id: 1, category_id: 5, bbox: [1, 2, 3, 4], area: 12, iscrowd: 0, segmentation: [[1, 2, 4, 2, 4, 6.123]] },
      { id: 11, image_id: 2, category_id: 5, bbox: [0, 0, 2, 2], area: 4, iscrowd: 1, segmentation: { size: [10, 20], counts: [0, 4, 196] } },
      { id: 12, image_id: 2, category_id: 5, bbox: [0, 0, 1, 1], area: 1, iscrowd: 0, keypoints: [1, 2, 2] },
    ],
  };
}

function errorOf(fn: () => unknown): CocoFormatError {
  try {
    fn();
  } catch (e) {
    if (e instanceof CocoFormatError) return e;
    throw e;
  }
  throw new Error('expected a CocoFormatError');
}

describe('instances loading', () => {
  it('keeps every field and coordinate exactly (round trip)', () => {
    const ds = base();
    const gt = instancesFrom(ds, 'tiny.json');
    expect(gt.toDataset()).toEqual(ds);
    expect(gt.getImgIds()).toEqual([1, 2]);
    expect(gt.annotation(2).keypoints).toEqual([1, 2, 2]);
  });

  it('streams a file identically whatever the chunk size (boundaries inside tokens, strings and escapes)', async () => {
    const ds = base();
    // many annotations so that batches split everywhere
    for (let i = 0; i < 300; i++) {
      ds.annotations.push({ id: 100 + i, image_id: 1 + (i % 2), category_id: 5, bbox: [i % 7, 1, 2.5, 3.25], area: 8.125 + i / 1000, iscrowd: 0, segmentation: [[1, 1, 3, 1.333333, 3, 3, i / 7, 2]] });
    }
    const path = join(dir, 'stream.json');
    writeFileSync(path, JSON.stringify(ds, null, 1));
    for (const chunkBytes of [7, 64, 1000, 1 << 20]) {
      const gt = await loadInstances(path, { chunkBytes });
      expect(gt.toDataset()).toEqual(ds);
    }
    const compact = join(dir, 'compact.json');
    writeFileSync(compact, JSON.stringify(ds));
    expect((await loadInstances(compact, { chunkBytes: 50 })).toDataset()).toEqual(ds);
    expect(instancesFrom(Buffer.from(JSON.stringify(ds))).toDataset()).toEqual(ds);
  });

  it('loads the fixtures and reports load time', async () => {
    const gt = await loadInstances(fixturePath('segm-seed1/gt.json'));
    expect(gt.annotations.count).toBe(141);
    expect(gt.loadStats.bytes).toBeGreaterThan(50_000);
    expect(gt.loadStats.ms).toBeGreaterThan(0);
    expect(gt.toDataset().annotations).toEqual(readFixture('segm-seed1/gt.json').annotations.map((a: Record<string, unknown>) => ({ iscrowd: 0, ...a })));
  });

  it('names file, index and field of a bad bbox', () => {
    const ds = base();
    for (let i = 0; i < 1040; i++) ds.annotations.push({ id: 1000 + i, image_id: 1, category_id: 5, bbox: [0, 0, 1, 1], area: 1 });
    (ds.annotations as unknown[]).push({ id: 5000, image_id: 1, category_id: 5, bbox: [12, 5, -3], area: 1 });
    const e = errorOf(() => instancesFrom(ds, 'instances.json'));
    expect(e.message).toBe('instances.json: annotations[1043].bbox: expected 4 finite numbers, got [12, 5, -3]');
  });

  it('reports every problem at once: duplicates, dangling references, bad fields, RLE sizes, short polygons', () => {
    const ds = base();
    ds.images.push({ id: 1, width: 5, height: 5 });
    ds.categories.push({ id: 5, name: 'again' });
    ds.annotations.push(
      { id: 10, image_id: 1, category_id: 5, bbox: [0, 0, 1, 1], area: 1 },
      { id: 20, image_id: 99, category_id: 7, bbox: [0, 0, -1, 1], area: -2, iscrowd: 2 as 0 },
      { id: 21, image_id: 1, category_id: 5, bbox: [0, 0, 1, 1], area: 1, segmentation: [[1, 2, 3, 4]] },
      { id: 22, image_id: 1, category_id: 5, bbox: [0, 0, 1, 1], area: 1, segmentation: { size: [10, 20], counts: [0, 200] } },
      { id: 23, image_id: 1, category_id: 5, bbox: [0, 0, 1, 1], area: 1, segmentation: { size: [30, 40], counts: [0, 10] } },
      { id: 24, image_id: 1, category_id: 5, bbox: [0, 0, 1, 1], area: 1, segmentation: [[1, 2, 3, 4, 5]] },
      { id: 25, image_id: 1, category_id: 6, bbox: [0, 0, 1, 1], area: 1 },
    );
    const e = errorOf(() => instancesFrom(ds, 'bad.json'));
    const text = e.issues.join('\n');
    expect(text).toContain('bad.json: images[2].id: duplicate id 1 (also images[0])');
    expect(text).toContain('bad.json: categories[1].id: duplicate id 5 (also categories[0])');
    expect(text).toContain('bad.json: annotations[3].id: duplicate id 10 (also annotations[0])');
    expect(text).toContain('annotations[4].bbox: negative width -1 in [0, 0, -1, 1]');
    expect(text).toContain('annotations[4].area: expected a finite number >= 0, got -2');
    expect(text).toContain('annotations[4].iscrowd: expected 0 or 1, got 2');
    expect(text).toContain('annotations[5].segmentation[0]: expected a polygon of at least 3 points (6 numbers), got 2 points [1, 2, 3, 4]');
    expect(text).toContain('annotations[6].segmentation.size: [10, 20] disagrees with image 1 (height 30, width 40)');
    expect(text).toContain('annotations[7].segmentation.counts: runs cover 10 pixels, expected height*width = 1200');
    expect(text).toContain('annotations[8].segmentation[0]: expected an even count of numbers (x, y pairs), got 5');
    expect(text).toContain('annotations[9].category_id: no category with id 6');
    expect(e.totalIssues).toBe(e.issues.length);
  });

  it('reports dangling image ids and missing sections', () => {
    const ds = base();
    ds.annotations[0]!.image_id = 77;
    expect(errorOf(() => instancesFrom(ds, 'x.json')).message).toBe('x.json: annotations[0].image_id: no image with id 77');
    const e = errorOf(() => instancesFrom({ images: [], categories: [] } as unknown as CocoDataset, 'y.json'));
    expect(e.message).toContain('y.json: annotations: missing');
    expect(() => instancesFrom('{"images": [], "annotations": [1, 2,], "categories": []}', 'z.json')).toThrow(JsonSyntaxError);
    expect(() => instancesFrom('{"images": [], "annotations": [{"id": 1,, }], "categories": []}', 'z.json')).toThrow(/z\.json: invalid JSON: annotations\[0\]/);
  });

  it('accepts empty sections in a file', async () => {
    const path = join(dir, 'empty-sections.json');
    writeFileSync(path, '{"images": [], "annotations": [], "categories": []}');
    const gt = await loadInstances(path);
    expect(gt.annotations.count).toBe(0);
    expect(gt.getImgIds()).toEqual([]);
  });

  it('keeps coordinates with more than two decimals exactly', () => {
    const ds = base();
    ds.annotations[0]!.segmentation = [[0.1, 0.7, 3.14159, 2.5, 1e-7, 1234567.891, 2 ** 40, 3]];
    const gt = instancesFrom(ds);
    expect(gt.segmentation(0)).toEqual(ds.annotations[0]!.segmentation);
  });
});
