import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClassificationSplit, decodeImage, SHAPE_CATEGORIES, writeShapesClassification, type ShapesClassificationSummary } from '../src/index.js';
import { tempDir } from './helpers.js';

const o = { perClass: 3, valPerClass: 2, size: 32, seed: 5 };
let a: string;
let b: string;
let c: string;
let summary: ShapesClassificationSummary;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  for (const set of [(d: string) => (a = d), (d: string) => (b = d), (d: string) => (c = d)]) {
    const t = await tempDir('pn-shapes-cls-');
    set(t.dir);
    cleanups.push(t.cleanup);
  }
  summary = await writeShapesClassification(a, o);
  await writeShapesClassification(b, o);
  await writeShapesClassification(c, { ...o, seed: 6 });
});
afterAll(() => Promise.all(cleanups.map((f) => f())));

const files = async (root: string, split: string, cls: string) => (await readdir(join(root, split, cls))).sort();

describe('writeShapesClassification', () => {
  it('writes root/{train,val}/<class>/NNNN.png, balanced per class', async () => {
    expect((await readdir(a)).sort()).toEqual(['train', 'val']);
    const classes = [...SHAPE_CATEGORIES].sort();
    expect(summary).toEqual({ classNames: classes, train: 18, val: 12 });
    for (const [split, count] of [['train', 3], ['val', 2]] as const) {
      expect((await readdir(join(a, split))).sort()).toEqual(classes);
      for (const cls of classes) expect(await files(a, split, cls)).toEqual(Array.from({ length: count }, (_, i) => `${String(i).padStart(4, '0')}.png`));
    }
    const img = await decodeImage(join(a, 'train', 'star', '0002.png'));
    expect([img.width, img.height]).toEqual([32, 32]);
  });

  it('opens as a ClassificationSplit with labels from the sorted folders', async () => {
    const split = await ClassificationSplit.open(join(a, 'val'));
    expect(split.length).toBe(12);
    expect(split.classNames).toEqual(summary.classNames);
    expect(Array.from({ length: 12 }, (_, i) => split.label(i))).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    const first = await split.image(0);
    expect(await split.image(0)).toBe(first);
  });

  it('is a function of the seed', async () => {
    const bytes = (root: string) => readFile(join(root, 'train', 'circle', '0001.png'));
    expect((await bytes(b)).equals(await bytes(a))).toBe(true);
    expect((await bytes(c)).equals(await bytes(a))).toBe(false);
  });

  it('rejects bad counts and sizes', async () => {
    await expect(writeShapesClassification(join(a, 'x'), { ...o, perClass: 0 })).rejects.toThrow(/perClass/);
    await expect(writeShapesClassification(join(a, 'x'), { ...o, valPerClass: 1.5 })).rejects.toThrow(/valPerClass/);
    await expect(writeShapesClassification(join(a, 'x'), { ...o, size: 8 })).rejects.toThrow(/size/);
  });
});
