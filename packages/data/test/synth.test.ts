import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '@partialnet/core';
import { area, decode, frPoly, merge, toBbox } from '@partialnet/coco';
import { CocoDataset, decodeLabelMap, openCocoDir, SHAPE_CATEGORIES, writeShapesDataset, drawBatch, trainPipeline } from '../src/index.js';
import { instanceBitmap, polygonsToBitmap } from '../src/masks.js';
import { loadSample, renderShapesImage, collate } from '../src/internals.js';
import { tempDir } from './helpers.js';

let a: string;
let b: string;
let c: string;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  for (const set of [(d: string) => (a = d), (d: string) => (b = d), (d: string) => (c = d)]) {
    const t = await tempDir('pn-shapes-');
    set(t.dir);
    cleanups.push(t.cleanup);
  }
  await writeShapesDataset(a, { images: 12, width: 128, height: 96, seed: 4 });
  await writeShapesDataset(b, { images: 12, width: 128, height: 96, seed: 4 });
  await writeShapesDataset(c, { images: 12, width: 128, height: 96, seed: 5 });
});
afterAll(() => Promise.all(cleanups.map((f) => f())));

interface Ann {
  id: number;
  image_id: number;
  category_id: number;
  bbox: number[];
  area: number;
  iscrowd: number;
  segmentation: number[][] | { size: [number, number]; counts: string };
}

async function readJson(dir: string, split: string) {
  return JSON.parse(await readFile(join(dir, 'annotations', `instances_${split}.json`), 'utf8')) as {
    images: { id: number; file_name: string; width: number; height: number }[];
    annotations: Ann[];
    categories: { id: number; name: string }[];
  };
}

describe('synthetic shapes', () => {
  it('is byte-for-byte deterministic from the seed', async () => {
    for (const f of ['annotations/instances_train.json', 'annotations/instances_val.json', 'train/000001.jpg', 'semantic/val/000012.png']) {
      expect((await readFile(join(a, f))).equals(await readFile(join(b, f)))).toBe(true);
    }
    expect((await readFile(join(a, 'train/000001.jpg'))).equals(await readFile(join(c, 'train/000001.jpg')))).toBe(false);
  });

  it('writes train/val splits with the categories, files and unique ids', async () => {
    const train = await readJson(a, 'train');
    const val = await readJson(a, 'val');
    expect(train.images.length).toBe(10);
    expect(val.images.length).toBe(2);
    expect(train.categories.map((x) => x.name)).toEqual([...SHAPE_CATEGORIES]);
    const ids = [...train.images, ...val.images].map((i) => i.id);
    expect(new Set(ids).size).toBe(12);
    expect((await readdir(join(a, 'train'))).length).toBe(10);
    const annIds = [...train.annotations, ...val.annotations].map((x) => x.id);
    expect(new Set(annIds).size).toBe(annIds.length);
  });

  it('masks (polygon or RLE) match bbox and area exactly, and the semantic map agrees', async () => {
    const train = await readJson(a, 'train');
    let polys = 0;
    let rles = 0;
    for (const ann of train.annotations) {
      const img = train.images.find((i) => i.id === ann.image_id)!;
      const rle = Array.isArray(ann.segmentation) ? merge(frPoly(ann.segmentation, img.height, img.width)) : ann.segmentation;
      if (Array.isArray(ann.segmentation)) polys++;
      else rles++;
      expect(ann.iscrowd).toBe(0);
      expect(area(rle)).toBe(ann.area);
      expect(toBbox(rle)).toEqual(ann.bbox);
      // Objects are reasonably large for a small detector.
      expect(Math.max(ann.bbox[2]!, ann.bbox[3]!)).toBeGreaterThan(8);
    }
    expect(polys).toBeGreaterThan(0);
    expect(rles).toBeGreaterThan(0); // some occlusion happened
    // Semantic label map: every instance's pixels carry its category id.
    const first = train.images[0]!;
    const sem = await decodeLabelMap(join(a, 'semantic/train', first.file_name.replace(/\.jpg$/, '.png')));
    for (const ann of train.annotations.filter((x) => x.image_id === first.id)) {
      const rle = Array.isArray(ann.segmentation) ? merge(frPoly(ann.segmentation, first.height, first.width)) : ann.segmentation;
      const col = decode(rle);
      for (let x = 0; x < first.width; x++) {
        for (let y = 0; y < first.height; y++) if (col[x * first.height + y]) expect(sem.data[y * first.width + x]).toBe(ann.category_id);
      }
    }
  });

  it('later shapes never hide more than half of an earlier one', () => {
    for (let seed = 0; seed < 10; seed++) {
      const img = renderShapesImage(96, 96, new Rng(seed), { objects: [4, 6] });
      for (const inst of img.instances) {
        let vis = 0;
        for (const v of inst.visible) vis += v;
        expect(vis).toBe(inst.area);
        const full = polygonsToBitmap([inst.polygon], 96, 96).reduce((n, v) => n + v, 0);
        expect(inst.area).toBeGreaterThanOrEqual(0.5 * full);
        expect(inst.occluded).toBe(inst.area < full);
      }
    }
  });

  it('loads through CocoDataset and the loader, masks inside their boxes after transforms', async () => {
    const { dataset, manifest } = await openCocoDir(a, 'train');
    expect(manifest?.name).toBe('shapes');
    expect(dataset.length).toBe(10);
    expect(dataset.classNames).toEqual([...SHAPE_CATEGORIES]);
    expect(dataset.labelToCategoryId(0)).toBe(1);
    const samples = [];
    for (let i = 0; i < 4; i++) samples.push(await loadSample(dataset.record(i), trainPipeline({ scale: [200, 150], flipProb: 0.5 }), i));
    for (const s of samples) {
      const [h, w] = s.meta.imgShape;
      s.targets.masks!.forEach((m, k) => {
        const bits = instanceBitmap(m, h, w);
        let x1 = w, y1 = h, x2 = -1, y2 = -1;
        bits.forEach((v, p) => {
          if (!v) return;
          const x = p % w;
          const y = (p - x) / w;
          x1 = Math.min(x1, x); x2 = Math.max(x2, x); y1 = Math.min(y1, y); y2 = Math.max(y2, y);
        });
        const box = s.targets.boxes.subarray(k * 4, k * 4 + 4);
        // Nearest / polygon rasterization after resizing: within 2 px of the scaled box.
        expect(Math.abs(x1 - box[0]!)).toBeLessThanOrEqual(2);
        expect(Math.abs(y1 - box[1]!)).toBeLessThanOrEqual(2);
        expect(Math.abs(x2 + 1 - box[2]!)).toBeLessThanOrEqual(2);
        expect(Math.abs(y2 + 1 - box[3]!)).toBeLessThanOrEqual(2);
      });
    }
    const drawn = drawBatch(collate(samples), dataset.classNames);
    expect(drawn).toHaveLength(4);
    expect(drawn[0]!.width % 32).toBe(0);
  });
});

describe('CocoDataset options', () => {
  const coco = {
    images: [
      { id: 10, file_name: 'a.jpg', width: 100, height: 80 },
      { id: 11, file_name: 'b.jpg', width: 100, height: 80 },
    ],
    categories: [
      { id: 7, name: 'seven' },
      { id: 3, name: 'three' },
    ],
    annotations: [
      { id: 1, image_id: 10, category_id: 7, bbox: [10, 10, 20, 30], area: 600, iscrowd: 0, segmentation: [[10, 10, 30, 10, 30, 40, 10, 40]] },
      { id: 2, image_id: 10, category_id: 3, bbox: [50, 5, 0.5, 30], area: 15, iscrowd: 0, segmentation: [[50, 5, 50.5, 5, 50.5, 35]] },
      { id: 3, image_id: 10, category_id: 3, bbox: [60, 40, 30, 30], area: 900, iscrowd: 1, segmentation: { size: [80, 100], counts: [4860, 30, 50, 30] } },
      { id: 4, image_id: 11, category_id: 3, bbox: [0, 0, 10, 10], area: 100, iscrowd: 1, segmentation: { size: [80, 100], counts: [0, 10] } },
    ],
  };

  it('maps category ids to contiguous labels, crowd to ignore boxes, drops tiny boxes', () => {
    const ds = new CocoDataset(coco, '/data');
    expect(ds.categoryIds).toEqual([3, 7]);
    expect(ds.classNames).toEqual(['three', 'seven']);
    expect(ds.categoryIdToLabel(7)).toBe(1);
    expect(ds.labelToCategoryId(0)).toBe(3);
    const r = ds.record(0);
    expect(r.file).toBe('/data/a.jpg');
    expect(r.boxes).toEqual([10, 10, 30, 40]);
    expect(r.labels).toEqual([1]);
    expect(r.ignoreBoxes).toEqual([60, 40, 90, 70]);
    expect(r.masks).toHaveLength(1);
    expect(ds.length).toBe(2);
  });

  it('filterEmpty drops images with only crowd, crowdAsIgnore=false drops crowd', () => {
    expect(new CocoDataset(coco, '/d', { filterEmpty: true }).length).toBe(1);
    expect(new CocoDataset(coco, '/d', { crowdAsIgnore: false }).record(0).ignoreBoxes).toEqual([]);
    expect(new CocoDataset(coco, '/d', { minBoxSize: 15 }).record(0).labels).toEqual([1]);
    expect(new CocoDataset(coco, '/d', { minBoxSize: 25 }).record(0).labels).toEqual([]);
    expect(new CocoDataset(coco, '/d', { minBoxSize: 0.1 }).record(0).labels).toEqual([1, 0]);
    expect(() => new CocoDataset({ ...coco, categories: [] }, '/d')).toThrow(/unknown category id/);
  });
});

describe('CocoDataset.fromFile', () => {
  it('validates with the coco loader and names the file on errors', async () => {
    const { dir: d, cleanup: done } = await tempDir();
    try {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(join(d, 'bad.json'), JSON.stringify({ images: [{ id: 1, width: 10 }], annotations: [], categories: [] }));
      await expect(CocoDataset.fromFile(join(d, 'bad.json'), d)).rejects.toThrow(/bad\.json: images\[0\]\.height/);
      await expect(CocoDataset.fromFile(join(d, 'missing.json'), d)).rejects.toThrow(/missing\.json/);
    } finally {
      await done();
    }
  });
});
