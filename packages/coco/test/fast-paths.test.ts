// The fast paths of segm evaluation against the straightforward routines they replace.
import { describe, expect, it } from 'vitest';
import { argsortDescStable } from '../src/eval/numpy.js';
import { type Rle, plainArea, rleArea, rleEncode, rleFrString, rleIntersection, rleIou, rleOverlap, rleStringSummary, rleToBbox, rleToString } from '../src/mask/rle.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** A random blob mask (runs of varying density), column-major. */
function randomRle(rand: () => number, h: number, w: number): Rle {
  const m = new Uint8Array(h * w);
  const p = rand();
  const x0 = Math.floor(rand() * w);
  const x1 = x0 + Math.floor(rand() * (w - x0));
  for (let x = x0; x <= x1; x++) for (let y = 0; y < h; y++) m[x * h + y] = rand() < p ? 1 : 0;
  return rleEncode(m, h, w);
}

describe('rleOverlap and plainArea', () => {
  it('give the intersection and union of rleIntersection for random masks of one size', () => {
    const rand = lcg(11);
    for (let n = 0; n < 400; n++) {
      const h = 1 + Math.floor(rand() * 30);
      const w = 1 + Math.floor(rand() * 30);
      const a = randomRle(rand, h, w);
      const b = randomRle(rand, h, w);
      const ref = rleIntersection(a.cnts, b.cnts);
      const aa = plainArea(a);
      const ba = plainArea(b);
      expect(aa).toBe(rleArea(a));
      expect(ba).toBe(rleArea(b));
      expect(rleOverlap(a.cnts, b.cnts)).toBe(ref.inter);
      expect(aa + ba - ref.inter).toBe(ref.union);
    }
  });

  it('marks RLEs with an empty inner run or a wrong total as not plain, and rleIou then keeps the C walk', () => {
    // an empty inner run in both masks ends maskApi.c's walk early: its union is not areaA + areaB - inter
    const a: Rle = { h: 3, w: 3, cnts: Uint32Array.from([2, 0, 3, 4]) };
    const b: Rle = { h: 3, w: 3, cnts: Uint32Array.from([2, 0, 1, 6]) };
    expect(plainArea(a)).toBe(-1);
    expect(plainArea({ h: 3, w: 3, cnts: Uint32Array.from([2, 3]) })).toBe(-1);
    const ref = rleIntersection(a.cnts, b.cnts);
    expect(ref.inter).toBe(0);
    expect(rleOverlap(a.cnts, b.cnts)).toBe(4);
    const o = new Float64Array(1);
    rleIou([a], [b], null, o, 0, Float64Array.from([0, 0, 3, 3]), Float64Array.from([0, 0, 3, 3]));
    expect(o[0]).toBe(0);
  });
});

describe('rleStringSummary', () => {
  it('equals rleToBbox, rleArea and the run total of the decoded string', () => {
    const rand = lcg(5);
    const out = new Float64Array(6);
    for (let n = 0; n < 300; n++) {
      const h = 1 + Math.floor(rand() * 40);
      const w = 1 + Math.floor(rand() * 40);
      const r = randomRle(rand, h, w);
      const s = rleToString(r);
      rleStringSummary(s, h, w, out);
      const d = rleFrString(s, h, w);
      expect(Array.from(out.subarray(0, 4))).toEqual(Array.from(rleToBbox(d)));
      expect(out[4]).toBe(rleArea(d));
      expect(out[5]).toBe(h * w);
    }
  });

  it('throws like rleFrString on a corrupt string', () => {
    expect(() => rleStringSummary('0~', 2, 2, new Float64Array(6))).toThrow(/outside 48..111/);
  });
});

describe('argsortDescStable', () => {
  it('orders like a stable sort on descending keys, with 0 and -0 tied', () => {
    const rand = lcg(9);
    for (let n = 1; n < 200; n += 7) {
      const key = new Float64Array(n);
      for (let i = 0; i < n; i++) key[i] = rand() < 0.3 ? [0, -0, 0.5, 1][Math.floor(rand() * 4)]! : Math.round(rand() * 20) / 20;
      const ref = Array.from({ length: n }, (_, i) => i).sort((a, b) => key[b]! - key[a]! || a - b);
      expect(Array.from(argsortDescStable(key, n))).toEqual(ref);
    }
  });
});
