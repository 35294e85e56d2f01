import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataLoader, decodeImage, ImageLoadError, RecordDataset, testPipeline } from '../src/index.js';
import { loadSample } from '../src/internals.js';
import { tempDir, testImage } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
const W = 40;
const H = 24;
const raw = testImage(W, H);
const rawInput = () => sharp(raw.data, { raw: { width: W, height: H, channels: 3 } });

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await writeFile(join(dir, 'a.png'), await rawInput().png().toBuffer());
  await writeFile(join(dir, 'a.jpg'), await rawInput().jpeg({ quality: 95 }).toBuffer());
  await writeFile(join(dir, 'a.webp'), await rawInput().webp({ lossless: true }).toBuffer());
  await writeFile(join(dir, 'gray.png'), await rawInput().grayscale().png().toBuffer());
  await writeFile(join(dir, 'alpha.png'), await rawInput().ensureAlpha(0.3).png().toBuffer());
  await writeFile(join(dir, 'cmyk.jpg'), await rawInput().toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer());
  // EXIF orientation 6 = rotate 90 degrees clockwise to display.
  await writeFile(join(dir, 'exif6.jpg'), await rawInput().jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer());
  const png = await rawInput().png().toBuffer();
  await writeFile(join(dir, 'truncated.png'), png.subarray(0, Math.floor(png.length / 2)));
  await writeFile(join(dir, 'garbage.jpg'), Buffer.from('this is not an image'));
});
afterAll(() => cleanup());

const maxDiff = (a: Uint8Array, b: Uint8Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
const meanDiff = (a: Uint8Array, b: Uint8Array) => a.reduce((m, v, i) => m + Math.abs(v - b[i]!), 0) / a.length;

describe('decodeImage', () => {
  it('decodes PNG and lossless WebP exactly, JPEG closely', async () => {
    for (const [f, tol] of [['a.png', 0], ['a.webp', 0], ['a.jpg', 14]] as const) {
      const img = await decodeImage(join(dir, f));
      expect([img.width, img.height, img.data.length]).toEqual([W, H, W * H * 3]);
      expect(tol === 0 ? maxDiff(img.data, raw.data) : meanDiff(img.data, raw.data)).toBeLessThanOrEqual(tol);
    }
  });

  it('turns grayscale, alpha and CMYK into RGB', async () => {
    const gray = await decodeImage(join(dir, 'gray.png'));
    expect(gray.data.length).toBe(W * H * 3);
    for (let i = 0; i < gray.data.length; i += 3) expect(gray.data[i]).toBe(gray.data[i + 2]);
    const alpha = await decodeImage(join(dir, 'alpha.png'));
    expect(maxDiff(alpha.data, raw.data)).toBe(0); // alpha dropped, colour kept
    const cmyk = await decodeImage(join(dir, 'cmyk.jpg'));
    expect(cmyk.data.length).toBe(W * H * 3);
    expect(meanDiff(cmyk.data, raw.data)).toBeLessThan(25); // colour-managed round trip
  });

  it('applies the EXIF orientation', async () => {
    const img = await decodeImage(join(dir, 'exif6.jpg'));
    expect([img.width, img.height]).toEqual([H, W]);
    // Rotated 90 degrees clockwise: the top-left source pixel is now top-right.
    const src = raw.data.subarray(0, 3);
    const dst = img.data.subarray((H - 1) * 3, H * 3);
    expect(maxDiff(dst, src)).toBeLessThan(40);
  });

  it('names the file and image id when the file is missing, truncated or not an image', async () => {
    await expect(decodeImage(join(dir, 'nope.jpg'), { imageId: 42 })).rejects.toThrow(/not found.*nope\.jpg.*image id 42/);
    for (const f of ['truncated.png', 'garbage.jpg']) {
      const err = await decodeImage(join(dir, f), { imageId: 9 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImageLoadError);
      expect((err as ImageLoadError).message).toContain(f);
      expect((err as ImageLoadError).message).toContain('image id 9');
      expect((err as ImageLoadError).imageId).toBe(9);
      expect((err as ImageLoadError).reason).toBe('corrupt');
    }
  });

  it('rejects images whose size disagrees with the annotations', async () => {
    const r = { index: 0, imageId: 5, file: join(dir, 'a.png'), width: W + 1, height: H };
    await expect(loadSample(r, [], 0)).rejects.toThrow(/40x24 but the annotations say 41x24/);
  });
});

describe('bad images in the loader', () => {
  const records = () => [
    { index: 0, imageId: 1, file: join(dir, 'a.png') },
    { index: 1, imageId: 2, file: join(dir, 'missing.png') },
    { index: 2, imageId: 3, file: join(dir, 'garbage.jpg') },
    { index: 3, imageId: 4, file: join(dir, 'a.jpg') },
  ];

  for (const workers of [0, 1]) {
    it(`fails with the file and id by default (workers=${workers})`, async () => {
      const loader = new DataLoader(new RecordDataset(records()), { batchSize: 2, pipeline: testPipeline({ scale: [64, 32] }), workers });
      try {
        const err = await (async () => {
          for await (const _ of loader.epoch(0)) {
            /* drain */
          }
        })().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ImageLoadError);
        expect((err as Error).message).toMatch(/missing\.png \(image id 2\)/);
      } finally {
        await loader.close();
      }
    });

    it(`skipBadImages counts warnings and drops the images (workers=${workers})`, async () => {
      const warnings: string[] = [];
      const loader = new DataLoader(new RecordDataset(records()), {
        batchSize: 2,
        pipeline: testPipeline({ scale: [64, 32] }),
        workers,
        skipBadImages: true,
        onWarning: (m) => warnings.push(m),
      });
      const ids: number[] = [];
      for await (const b of loader.epoch(0)) ids.push(...b.metas.map((m) => m.imageId));
      await loader.close();
      expect(ids).toEqual([1, 4]);
      expect(loader.stats.badImages).toBe(2);
      expect(warnings).toHaveLength(2);
      expect(warnings.join('\n')).toMatch(/garbage\.jpg \(image id 3\)/);
    });
  }
});
