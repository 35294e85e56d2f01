import { describe, expect, it } from 'vitest';
import { Rng } from '@partialnet/core';
import { mixEnabled, mixImages, sampleBeta } from '../src/internals.js';
import { mixTargets, type MixOptions } from '../src/index.js';

const H = 12;
const W = 16;
const PER = H * W * 3;

/** n images, image i filled with the value i. */
function constantImages(n: number): Float32Array {
  const images = new Float32Array(n * PER);
  for (let i = 0; i < n; i++) images.fill(i, i * PER, (i + 1) * PER);
  return images;
}

function oneHot(labels: number[], k: number): Float32Array {
  const t = new Float32Array(labels.length * k);
  labels.forEach((l, i) => (t[i * k + l] = 1));
  return t;
}

const rowSums = (t: Float32Array, k: number) => Array.from({ length: t.length / k }, (_, i) => t.subarray(i * k, (i + 1) * k).reduce((a, b) => a + b, 0));

describe('mixTargets', () => {
  it('mixes each row with its reversed partner; rows still sum to 1', () => {
    const k = 5;
    const mixed = mixTargets(oneHot([0, 1, 2, 3], k), k, 0.7);
    for (const s of rowSums(mixed, k)) expect(s).toBeCloseTo(1, 6);
    expect(mixed[0]).toBeCloseTo(0.7, 6);
    expect(mixed[3]).toBeCloseTo(0.3, 6);
    expect(mixed[1]! + mixed[2]! + mixed[4]!).toBe(0);
    // A label-smoothed input (0.9 + 0.1 / K on the label) mixes to rows that sum to 1 as well.
    const smooth = oneHot([4, 4, 1], k).map((v) => v * 0.9 + 0.1 / k);
    for (const s of rowSums(mixTargets(smooth, k, 0.37), k)) expect(s).toBeCloseTo(1, 6);
    expect(() => mixTargets(new Float32Array(7), 3, 0.5)).toThrow(RangeError);
  });
});

describe('mixImages', () => {
  it('mixup blends every pixel with the partner by lam', () => {
    const n = 4;
    const images = constantImages(n);
    const r = mixImages(images, n, H, W, { mixup: 0.8, cutmix: 0, switchProb: 0.5 }, new Rng(1));
    expect(r.mode).toBe('mixup');
    expect(r.box).toBeUndefined();
    expect(r.lam).toBeGreaterThan(0);
    expect(r.lam).toBeLessThan(1);
    for (let i = 0; i < n; i++) {
      const want = Math.fround(r.lam * i + (1 - r.lam) * (n - 1 - i));
      expect(images.subarray(i * PER, (i + 1) * PER).every((v) => v === want)).toBe(true);
    }
  });

  it("cutmix pastes the partner's box; its area is exactly 1 - lam", () => {
    const n = 4;
    let clipped = 0;
    for (let seed = 0; seed < 60; seed++) {
      const images = constantImages(n);
      const r = mixImages(images, n, H, W, { mixup: 0, cutmix: 1, switchProb: 0.5 }, new Rng(seed));
      expect(r.mode).toBe('cutmix');
      const [x1, y1, x2, y2] = r.box!;
      if (x1 === 0 || y1 === 0 || x2 === W || y2 === H) clipped++;
      for (let i = 0; i < n; i++) {
        const img = images.subarray(i * PER, (i + 1) * PER);
        const fromPartner = img.filter((v) => v === n - 1 - i).length / 3;
        expect(fromPartner / (H * W)).toBeCloseTo(1 - r.lam, 10);
        expect(img.every((v) => v === i || v === n - 1 - i)).toBe(true);
      }
      // The targets then weigh the partner's label by the same pasted fraction.
      const t = mixTargets(oneHot([0, 1, 2, 3], 4), 4, r.lam);
      expect(t[3]).toBeCloseTo(1 - r.lam, 6);
    }
    expect(clipped).toBeGreaterThan(0);
  });

  it('switchProb picks cutmix when both are on', () => {
    const both = (switchProb: number): MixOptions => ({ mixup: 0.8, cutmix: 1, switchProb });
    const rng = new Rng(5);
    const modes = (o: MixOptions) => Array.from({ length: 20 }, () => mixImages(constantImages(2), 2, H, W, o, rng).mode);
    expect(new Set(modes(both(1)))).toEqual(new Set(['cutmix']));
    expect(new Set(modes(both(0)))).toEqual(new Set(['mixup']));
    expect(new Set(modes(both(0.5)))).toEqual(new Set(['mixup', 'cutmix']));
  });

  it('is a function of the seed and refuses to run with mixing off', () => {
    const run = (seed: number) => {
      const images = constantImages(3);
      return { r: mixImages(images, 3, H, W, { mixup: 0.8, cutmix: 1, switchProb: 0.5 }, new Rng(seed)), images };
    };
    expect(run(11)).toEqual(run(11));
    expect(run(11).r.lam).not.toBe(run(12).r.lam);
    const off = { mixup: 0, cutmix: 0, switchProb: 0.5 };
    expect(mixEnabled(off)).toBe(false);
    expect(() => mixImages(constantImages(2), 2, H, W, off, new Rng(0))).toThrow(/both off/);
  });
});

describe('sampleBeta', () => {
  it('has the Beta mean, also for alpha < 1', () => {
    const rng = new Rng(3);
    for (const [a, b] of [[2, 5], [0.2, 0.2], [1, 1]] as const) {
      const xs = Array.from({ length: 4000 }, () => sampleBeta(a, b, rng));
      expect(xs.every((x) => x >= 0 && x <= 1)).toBe(true);
      expect(xs.reduce((s, x) => s + x, 0) / xs.length).toBeCloseTo(a / (a + b), 1);
    }
  });
});
