import { describe, expect, it } from 'vitest';
import { Rng } from '@partialnet/core';
import { centerCropBox, cropRgb, normalizeTable, randomClassificationView, randomResizedCropBox, renderClassificationSample, type CropBox } from '../src/internals.js';
import { testImage } from './helpers.js';

const inside = (b: CropBox, w: number, h: number) => b.x >= 0 && b.y >= 0 && b.w > 0 && b.h > 0 && b.x + b.w <= w && b.y + b.h <= h && Number.isInteger(b.x + b.y + b.w + b.h);

describe('randomResizedCropBox', () => {
  it('stays inside the image', () => {
    const rng = new Rng(1);
    for (const [w, h] of [[50, 40], [40, 50], [7, 300], [1, 1], [224, 224]] as const) {
      for (let i = 0; i < 300; i++) expect(inside(randomResizedCropBox(w, h, rng), w, h)).toBe(true);
    }
  });

  it('keeps area and aspect ratio within the ranges (up to pixel rounding)', () => {
    const rng = new Rng(2);
    const [W, H] = [1000, 800];
    const scale: [number, number] = [0.2, 0.6];
    const ratio: [number, number] = [0.5, 2];
    const areas: number[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < 500; i++) {
      const b = randomResizedCropBox(W, H, rng, scale, ratio);
      expect(inside(b, W, H)).toBe(true);
      areas.push((b.w * b.h) / (W * H));
      ratios.push(b.w / b.h);
    }
    // Sides of >= 280 px round by <= 0.5 px: under 0.5% off in area or ratio.
    expect(Math.min(...areas)).toBeGreaterThanOrEqual(scale[0] * 0.995);
    expect(Math.max(...areas)).toBeLessThanOrEqual(scale[1] * 1.005);
    expect(Math.min(...ratios)).toBeGreaterThanOrEqual(ratio[0] * 0.995);
    expect(Math.max(...ratios)).toBeLessThanOrEqual(ratio[1] * 1.005);
    // The draws cover the ranges rather than sitting in one corner of them.
    expect(Math.min(...areas)).toBeLessThan(0.25);
    expect(Math.max(...areas)).toBeGreaterThan(0.55);
    expect(Math.min(...ratios)).toBeLessThan(0.6);
    expect(Math.max(...ratios)).toBeGreaterThan(1.7);
  });

  it('falls back to a centred crop with the ratio clamped when no try fits', () => {
    // Any area >= 90% of a 400x20 strip needs h > 20 at ratio <= 4/3, so all 10 tries fail.
    expect(randomResizedCropBox(400, 20, new Rng(3), [0.9, 1])).toEqual({ x: 186, y: 0, w: 27, h: 20 });
    expect(randomResizedCropBox(20, 400, new Rng(3), [0.9, 1])).toEqual({ x: 0, y: 186, w: 20, h: 27 });
  });

  it('is a function of the seed', () => {
    const draw = (seed: number) => {
      const rng = new Rng(seed);
      return Array.from({ length: 20 }, () => randomResizedCropBox(300, 200, rng));
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });
});

describe('classification views', () => {
  it('centre crop is timm crop_pct of the shorter side', () => {
    expect(centerCropBox(64, 64)).toEqual({ x: 4, y: 4, w: 56, h: 56 });
    expect(centerCropBox(100, 50, 1)).toEqual({ x: 25, y: 0, w: 50, h: 50 });
  });

  it('draws crop then flip from the rng, honouring flipProb', () => {
    const a = randomClassificationView(60, 40, new Rng(9), { scale: [0.3, 1] });
    const b = randomClassificationView(60, 40, new Rng(9), { scale: [0.3, 1] });
    expect(a).toEqual(b);
    const rng = new Rng(10);
    expect(Array.from({ length: 50 }, () => randomClassificationView(60, 40, rng, { flipProb: 0 }).flip).some(Boolean)).toBe(false);
    expect(Array.from({ length: 50 }, () => randomClassificationView(60, 40, rng, { flipProb: 1 }).flip).every(Boolean)).toBe(true);
  });

  it('crops exact pixels and refuses boxes outside the image', () => {
    const img = testImage(9, 7);
    const c = cropRgb(img, { x: 2, y: 3, w: 4, h: 2 });
    expect([c.width, c.height]).toEqual([4, 2]);
    expect(Array.from(c.data.subarray(0, 3))).toEqual(Array.from(img.data.subarray((3 * 9 + 2) * 3, (3 * 9 + 2) * 3 + 3)));
    expect(cropRgb(img, { x: 0, y: 0, w: 9, h: 7 })).toBe(img);
    expect(() => cropRgb(img, { x: 6, y: 0, w: 4, h: 2 })).toThrow(RangeError);
  });

  it('renders into its batch slot, mirrored on flip', () => {
    const img = testImage(8, 8);
    const identity = normalizeTable();
    const out = new Float32Array(2 * 8 * 8 * 3).fill(-1);
    renderClassificationSample(img, { crop: { x: 0, y: 0, w: 8, h: 8 }, flip: false }, 8, out, 1, identity);
    expect(out.subarray(0, 192).every((v) => v === -1)).toBe(true);
    expect(Array.from(out.subarray(192))).toEqual(Array.from(img.data));
    renderClassificationSample(img, { crop: { x: 0, y: 0, w: 8, h: 8 }, flip: true }, 8, out, 0, identity);
    for (let x = 0; x < 8; x++) expect(out[x * 3]).toBe(img.data[(7 - x) * 3]);
  });
});
