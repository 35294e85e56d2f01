import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeLabelMap, ImageLoadError } from '../src/index.js';
import { decodePngIndices } from '../src/internals.js';
import { tempDir } from './helpers.js';

const FIX = join(import.meta.dirname, 'fixtures', 'seg');
const index = JSON.parse(readFileSync(join(FIX, 'index.json'), 'utf8')) as Record<string, { height: number; width: number; labels: string; classes_present: number[] }>;

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir('pn-labels-')));
afterAll(() => cleanup());

describe('decodeLabelMap on real label files', () => {
  for (const [name, info] of Object.entries(index)) {
    it(`${name}.png gives exactly the stored indices (${info.classes_present.length} classes incl. 255)`, async () => {
      const map = await decodeLabelMap(join(FIX, `${name}.png`));
      const expected = new Uint8Array(readFileSync(join(FIX, info.labels)));
      expect([map.width, map.height]).toEqual([info.width, info.height]);
      expect(Buffer.from(map.data).equals(Buffer.from(expected))).toBe(true);
      expect([...new Set(map.data)].sort((a, b) => a - b)).toEqual(info.classes_present);
    });
  }

  it('a palette PNG is not read as its colours: libvips gives the red channel, which differs', async () => {
    const file = join(FIX, 'palette-voc-37x53.png');
    const { data } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    const map = await decodeLabelMap(file);
    const red = new Uint8Array(map.data.length).map((_, i) => data[i * 3]!);
    expect(Buffer.from(red).equals(Buffer.from(map.data))).toBe(false);
    // The VOC colour map sends class 1 to (128, 0, 0).
    const i = map.data.indexOf(1);
    expect([data[3 * i], data[3 * i + 1], data[3 * i + 2]]).toEqual([128, 0, 0]);
  });
});

describe('decodePngIndices', () => {
  // libvips writes palette PNGs with as few bits per index as the colour count needs.
  for (const colours of [2, 4, 16, 256]) {
    it(`palette PNG with ${colours} colours: palette[index] equals what libvips decodes`, async () => {
      const w = 29;
      const h = 11; // odd sizes exercise partial bytes at low bit depths
      const rgb = new Uint8Array(w * h * 3);
      const cols = Array.from({ length: colours }, (_, k) => [(k * 37) % 256, (k * 91 + 20) % 256, (k * 13 + 200) % 256]);
      for (let p = 0; p < w * h; p++) rgb.set(cols[(p * 7 + Math.floor(p / w)) % colours]!, p * 3);
      const bytes = await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).png({ palette: true, colours, dither: 0, effort: 1 }).toBuffer();
      const decoded = decodePngIndices(bytes);
      expect(decoded.header.colorType).toBe(3);
      expect(decoded.header.bitDepth).toBe({ 2: 1, 4: 2, 16: 4, 256: 8 }[colours]);
      const ref = await sharp(bytes).removeAlpha().raw().toBuffer();
      const pal = decoded.palette!;
      for (let p = 0; p < w * h; p++) {
        const k = decoded.data[p]!;
        expect([pal[3 * k], pal[3 * k + 1], pal[3 * k + 2]]).toEqual([ref[3 * p], ref[3 * p + 1], ref[3 * p + 2]]);
      }
    });
  }

  it('grayscale PNG with adaptive (sub/up/average/paeth) filtering gives its levels', async () => {
    const w = 64;
    const h = 40;
    const g = new Uint8Array(w * h).map((_, p) => ((p % w) * 3 + Math.floor(p / w) * 5 + ((p * 2654435761) >>> 28)) % 256);
    const bytes = await sharp(g, { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w').png({ adaptiveFiltering: true, compressionLevel: 9 }).toBuffer();
    const decoded = decodePngIndices(bytes);
    expect(decoded.header.colorType).toBe(0);
    expect(Buffer.from(decoded.data).equals(Buffer.from(g))).toBe(true);
  });

  it('RGB label PNGs still decode (first channel) and a corrupt PNG names the file', async () => {
    const rgb = new Uint8Array(6 * 4 * 3).map((_, i) => (i % 3 === 0 ? Math.floor(i / 3) : 9));
    await writeFile(join(dir, 'rgb.png'), await sharp(rgb, { raw: { width: 6, height: 4, channels: 3 } }).png().toBuffer());
    const map = await decodeLabelMap(join(dir, 'rgb.png'));
    expect([...map.data]).toEqual(Array.from({ length: 24 }, (_, i) => i));
    const good = readFileSync(join(FIX, 'gray-ade-40x30.png'));
    await writeFile(join(dir, 'cut.png'), good.subarray(0, 60));
    await expect(decodeLabelMap(join(dir, 'cut.png'), { imageId: 7 })).rejects.toThrow(ImageLoadError);
    await expect(decodeLabelMap(join(dir, 'cut.png'), { imageId: 7 })).rejects.toThrow(/cut\.png \(image id 7\)/);
  });
});
