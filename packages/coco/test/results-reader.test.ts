import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CocoDataset, type CocoResults, encode, frPoly, instancesFrom, loadInstances, loadResults, resultsFrom } from '../src/index.js';
import { compressedRuns } from '../src/format/results.js';
import { plainArea } from '../src/mask/rle.js';
import { fixturePath } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'coco-reader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Everything a CocoResults holds, as plain values (the masks as given). */
function plain(r: CocoResults) {
  return {
    count: r.count,
    imageId: Array.from(r.imageId),
    categoryId: Array.from(r.categoryId),
    score: Array.from(r.score),
    bbox: Array.from(r.bbox),
    area: Array.from(r.area),
    bboxFromMask: Array.from(r.bboxFromMask),
    plainArea: Array.from(r.compressed.plainArea),
    areaFrom: r.areaFrom,
    segmentation: r.segmentation,
    rles: r.rles?.map((x) => (x ? { h: x.h, w: x.w, cnts: Array.from(x.cnts) } : x)) ?? null,
    warnings: r.warnings,
  };
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ds: CocoDataset = {
  images: [
    { id: 1, width: 60, height: 40 },
    { id: 2, width: 30, height: 50 },
  ],
  categories: [
    { id: 3, name: 'a' },
    { id: 4, name: 'b' },
  ],
  annotations: [{ id: 1, image_id: 1, category_id: 3, bbox: [10, 10, 20, 20], area: 400, iscrowd: 0, segmentation: [[10, 10, 30, 10, 30, 30, 10, 30]] }],
};
const gt = instancesFrom(ds, 'gt.json');

/** Results of every shape the reader takes itself or hands to JSON.parse, as JSON text. */
function mixedResults(n: number, seed: number): string {
  const rand = mulberry32(seed);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const img = rand() < 0.5 ? 1 : 2;
    const [h, w] = img === 1 ? [40, 60] : [50, 30];
    const x = rand() * (w - 5);
    const y = rand() * (h - 5);
    const poly = [x, y, x + 4 + rand(), y, x + 2, y + 4 + rand() * 3];
    const [rle] = frPoly([poly], h, w);
    const counts = JSON.stringify(rle!.counts);
    // scores as JS prints them, with 17 digits as Python does, integers, exponents
    const scores = [String(rand()), rand().toPrecision(17), '1', '0', '1e-3', '2.5E-1', '0.000123', '-0.0'];
    const score = scores[i % scores.length]!;
    const cat = i % 11 === 5 ? 99 : rand() < 0.5 ? 3 : 4;
    const kind = i % 9;
    let seg = `{"size": [${h}, ${w}], "counts": ${counts}}`;
    if (kind === 1) seg = `{"counts": ${counts}, "size": [${h},${w}]}`;
    if (kind === 2) seg = JSON.stringify([poly]);
    if (kind === 3) seg = JSON.stringify({ size: [h, w], counts: Array.from(encode(new Uint8Array(h * w).fill(1, 3, 40), h, w).counts as unknown as string).length ? [3, 37, h * w - 40] : [] });
    const extra = kind === 4 ? `, "area": 12.5, "id": 7, "note": "x", "flag": true, "none": null` : kind === 5 ? `, "attributes": {"a": [1, {"b": "}"}]}` : kind === 6 ? `, "\\u0061rea": 1` : kind === 8 ? `, "scores": [2], "bboxes": 1, "image_id_2": 5, "c": 0` : '';
    const box = kind === 7 ? `, "bbox": [${x.toFixed(2)}, ${y.toFixed(2)}, 4.5, 1e1]` : '';
    const sp = i % 2 ? ' ' : '';
    parts.push(`{"image_id":${sp}${img},${sp}"category_id": ${cat}, "segmentation": ${seg}${extra}${box}, "score": ${score}}`);
  }
  return `[${parts.join(i2sep(seed))}]`;
}

function i2sep(seed: number): string {
  return seed % 2 ? ',\n  ' : ',';
}

describe('results files read from their bytes', () => {
  it('give the same columns, masks and notes as the generic path (JSON.parse), whatever the read size', async () => {
    for (const seed of [1, 2]) {
      const text = mixedResults(400, seed);
      const path = join(dir, `mixed-${seed}.json`);
      writeFileSync(path, text);
      const want = plain(resultsFrom(gt, JSON.parse(text) as unknown[], `mixed-${seed}.json`));
      expect(want.warnings.length).toBeGreaterThan(0); // category 99
      for (const chunkBytes of [64, 1000, 1 << 20]) {
        expect(plain(await loadResults(gt, path, { chunkBytes })), `seed ${seed}, chunkBytes ${chunkBytes}`).toEqual(want);
      }
      expect(plain(resultsFrom(gt, Buffer.from(text)))).toEqual({ ...want, warnings: want.warnings.map((w) => w.replace(`mixed-${seed}.json`, 'results')) });
    }
  });

  it('read the segm fixture (compressed RLE results) as the generic path does', async () => {
    const g = await loadInstances(fixturePath('segm-seed1/gt.json'));
    const path = fixturePath('segm-seed1/results.json');
    const want = plain(resultsFrom(g, JSON.parse(readFileSync(path, 'utf8')) as unknown[], 'results.json'));
    for (const chunkBytes of [100, 4096, undefined]) {
      expect(plain(await loadResults(g, path, chunkBytes ? { chunkBytes } : {}))).toEqual(want);
    }
    // each mask's plainArea, measured while reading, is that of its runs
    const r = await loadResults(g, path);
    for (let i = 0; i < r.count; i++) {
      const im = g.image(r.imageId[i]!)!;
      expect(r.compressed.plainArea[i]).toBe(plainArea(compressedRuns(r, i, im.height, im.width)!));
    }
    expect(Array.from(r.compressed.plainArea).some((a) => a > 0)).toBe(true);
    // masks are kept as runs; the strings pycocotools wrote come back unchanged
    const given = (JSON.parse(readFileSync(path, 'utf8')) as { segmentation: unknown }[]).map((r) => r.segmentation);
    expect(want.segmentation).toEqual(given);
  });

  it('parse numbers exactly as JSON.parse, 17-digit and shortest forms alike', async () => {
    const rand = mulberry32(7);
    const scores: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const v = rand() * 10 ** Math.floor(rand() * 8 - 4);
      scores.push([String(v), v.toPrecision(17), v.toPrecision(15), v.toExponential(12), v.toFixed(3)][i % 5]!);
    }
    const text = `[${scores.map((s) => `{"image_id": 1, "category_id": 3, "bbox": [${s}, 1, 2, ${s}], "score": ${s}}`).join(',')}]`;
    const path = join(dir, 'numbers.json');
    writeFileSync(path, text);
    const r = await loadResults(gt, path);
    expect(Array.from(r.score)).toEqual(scores.map((s) => JSON.parse(s) as number));
    expect(Array.from(r.bbox).filter((_, i) => i % 4 === 0)).toEqual(scores.map((s) => JSON.parse(s) as number));
  });

  it('leave broken documents to the streaming reader, which names the problem', async () => {
    const good = `{"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}`;
    const cases: [string, RegExp][] = [
      [`[${good}, ${good}`, /invalid JSON: unexpected end of file/],
      [`[${good}, {"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 05}]`, /invalid JSON/],
      [`[${good},]`, /invalid JSON/],
      [`[${good}] x`, /invalid JSON: unexpected data after the end/],
    ];
    for (const [text, msg] of cases) {
      const path = join(dir, 'broken.json');
      writeFileSync(path, text);
      await expect(loadResults(gt, path)).rejects.toThrow(msg);
    }
    const empty = join(dir, 'empty.json');
    writeFileSync(empty, '[]');
    expect((await loadResults(gt, empty)).warnings[0]).toMatch(/the result list is empty/);
  });
});

describe('small files read in one JSON.parse', () => {
  it('give what the scanner gives, and a duplicated top-level key still goes through the scanner', async () => {
    const path = join(dir, 'dup.json');
    const text = JSON.stringify(ds).replace('"categories":', '"images": [{"id": 9, "width": 5, "height": 5}], "categories":');
    writeFileSync(path, text);
    const whole = (await loadInstances(path)).toDataset();
    const scanned = (await loadInstances(path, { chunkBytes: 16 })).toDataset();
    expect(whole).toEqual(scanned);
    expect(whole.images.map((i) => i.id)).toEqual([1, 2, 9]);
  });
});
