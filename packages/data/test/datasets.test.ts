import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataLoader, ImageFolderDataset, SemanticDataset, resize, randomFlip, normalize, pad } from '../src/index.js';
import { loadSample } from '../src/internals.js';
import { tempDir, testImage } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;

async function png(path: string, w: number, h: number, channels: 1 | 3, fill: (x: number, y: number) => number) {
  const data = new Uint8Array(w * h * channels);
  if (channels === 3) data.set(testImage(w, h).data);
  else for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = fill(x, y);
  await writeFile(path, await sharp(data, { raw: { width: w, height: h, channels } }).png().toBuffer());
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  for (const c of ['cats', 'dogs']) await mkdir(join(dir, 'folder', c), { recursive: true });
  await png(join(dir, 'folder/cats/1.png'), 8, 8, 3, () => 0);
  await png(join(dir, 'folder/cats/2.png'), 8, 8, 3, () => 0);
  await png(join(dir, 'folder/dogs/1.png'), 8, 8, 3, () => 0);
  await writeFile(join(dir, 'folder/dogs/notes.txt'), 'ignored');
  await mkdir(join(dir, 'seg/img'), { recursive: true });
  await mkdir(join(dir, 'seg/lbl'), { recursive: true });
  await png(join(dir, 'seg/img/a.png'), 20, 10, 3, () => 0);
  await png(join(dir, 'seg/lbl/a.png'), 20, 10, 1, (x, y) => (x < 10 ? 1 : y < 5 ? 2 : 255));
});
afterAll(() => cleanup());

describe('ImageFolderDataset', () => {
  it('maps sorted class folders to labels and ignores non-images', async () => {
    const ds = await ImageFolderDataset.create(join(dir, 'folder'));
    expect(ds.classNames).toEqual(['cats', 'dogs']);
    expect(ds.length).toBe(3);
    expect([0, 1, 2].map((i) => ds.record(i).classLabel)).toEqual([0, 0, 1]);
    const loader = new DataLoader(ds, { batchSize: 3, pipeline: [resize([16, 16], { keepRatio: false }), normalize()] });
    for await (const b of loader.epoch(0)) {
      expect(b.shape).toEqual([3, 16, 16, 3]);
      expect(b.targets.map((t) => t.classLabel)).toEqual([0, 0, 1]);
    }
    await loader.close();
  });
});

describe('SemanticDataset', () => {
  it('pairs images with label maps and resizes labels with nearest neighbour (ignore stays 255)', async () => {
    const ds = await SemanticDataset.create({ imageDir: join(dir, 'seg/img'), labelDir: join(dir, 'seg/lbl') });
    expect(ds.length).toBe(1);
    const s = await loadSample(ds.record(0), [resize([40, 20]), randomFlip(1), pad(32)], 0);
    const m = s.targets.semantic!;
    expect([m.width, m.height]).toEqual([40, 20]);
    expect(new Set(m.data)).toEqual(new Set([1, 2, 255]));
    // Flipped: the left half of the original (label 1) is now on the right.
    expect(m.data[5 * 40 + 39]).toBe(1);
    expect(m.data[2 * 40 + 0]).toBe(2);
    expect(m.data[15 * 40 + 0]).toBe(255);
  });

  it('fails clearly when a label map is missing', async () => {
    await mkdir(join(dir, 'seg2/img'), { recursive: true });
    await mkdir(join(dir, 'seg2/lbl'), { recursive: true });
    await png(join(dir, 'seg2/img/b.png'), 4, 4, 3, () => 0);
    await expect(SemanticDataset.create({ imageDir: join(dir, 'seg2/img'), labelDir: join(dir, 'seg2/lbl') })).rejects.toThrow(/no label map .*b\.png/);
  });
});
