// The fast paths of segm evaluation against the straightforward routines they replace.
import { describe, expect, it } from 'vitest';
import { argsortDescStable } from '../src/eval/numpy.js';
import { type Rle, RunStore, SUMMARY_LENGTH, decodeInto, decodeSummaryInto, runsSummary, plainArea, rleArea, rleEncode, rleFrString, rleIntersection, rleIou, rleOverlap, rleStringSummary, rleToBbox, rleToString } from '../src/mask/rle.js';

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
    rleIou([a], [b], null, o, 0, { dtBoxes: Float64Array.from([0, 0, 3, 3]), gtBoxes: Float64Array.from([0, 0, 3, 3]) });
    expect(o[0]).toBe(0);
  });
});

describe('rleIou with a floor', () => {
  it('keeps every IoU that reaches the floor exact and writes 0 only for pairs whose IoU is below it, with or without plain areas given', () => {
    const rand = lcg(17);
    let pruned = 0;
    let kept = 0;
    for (let n = 0; n < 200; n++) {
      const h = 5 + Math.floor(rand() * 25);
      const w = 5 + Math.floor(rand() * 25);
      const dt = Array.from({ length: 4 }, () => randomRle(rand, h, w));
      const gt = Array.from({ length: 3 }, () => randomRle(rand, h, w));
      const crowd = Uint8Array.from(gt, () => (rand() < 0.3 ? 1 : 0));
      const floor = [0.3, 0.5, 0.75][n % 3]!;
      const exact = new Float64Array(12);
      const got = new Float64Array(12);
      rleIou(dt, gt, crowd, exact);
      rleIou(dt, gt, crowd, got, 0, { floor });
      // plain areas known beforehand (as loadResults measures them) change nothing
      const known = new Float64Array(12);
      rleIou(dt, gt, crowd, known, 0, { floor, dtPlainArea: dt.map((r, i) => (i === 1 ? NaN : plainArea(r))) });
      expect(Array.from(known)).toEqual(Array.from(got));
      for (let i = 0; i < 12; i++) {
        if (got[i] === exact[i]) {
          if (exact[i]! >= floor) kept++;
          continue;
        }
        expect(got[i]).toBe(0);
        expect(exact[i]).toBeLessThan(floor);
        pruned++;
      }
    }
    // both sides of the bound occur
    expect(pruned).toBeGreaterThan(50);
    expect(kept).toBeGreaterThan(50);
  });
});

describe('rleStringSummary', () => {
  it('equals rleToBbox, rleArea, the run total and plainArea of the decoded string', () => {
    const rand = lcg(5);
    const out = new Float64Array(SUMMARY_LENGTH);
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
      expect(out[6]).toBe(plainArea(d));
    }
  });

  it('throws like rleFrString on a corrupt string', () => {
    expect(() => rleStringSummary('0~', 2, 2, new Float64Array(SUMMARY_LENGTH))).toThrow(/outside 48..111/);
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

/** maskApi.c's rleToBbox loop as written there (unsigned 32-bit positions), the reference for the tracked one. */
function bboxAsMaskApi(cnts: Uint32Array, h: number, w: number): number[] {
  const m = cnts.length - (cnts.length % 2);
  if (m === 0) return [0, 0, 0, 0];
  let xs = w, ys = h, xe = 0, ye = 0, cc = 0, xp = 0;
  for (let j = 0; j < m; j++) {
    cc = (cc + cnts[j]!) >>> 0;
    const t = (cc - (j % 2)) >>> 0;
    const y = t % h;
    const x = (t - y) / h;
    if (j % 2 === 0) xp = x;
    else if (xp < x) {
      ys = 0;
      ye = h - 1;
    }
    xs = Math.min(xs, x);
    xe = Math.max(xe, x);
    ys = Math.min(ys, y);
    ye = Math.max(ye, y);
  }
  return [xs, ys, xe - xs + 1, ye - ys + 1];
}

describe('rleToBbox (column and row followed in int32)', () => {
  it('equals the unsigned per-run division of maskApi.c on random runs with empty runs, long jumps and wrap-around', () => {
    const rand = lcg(23);
    let differ = 0;
    let first = '';
    for (let n = 0; n < 5000; n++) {
      const h = 1 + Math.floor(rand() * 40);
      const w = 1 + Math.floor(rand() * 40);
      const k = Math.floor(rand() * 30);
      const cnts = new Uint32Array(k);
      for (let j = 0; j < k; j++) {
        const u = rand();
        // empty runs, short runs, runs over several columns, and (rarely) runs that wrap 2^32
        cnts[j] = u < 0.2 ? 0 : u < 0.7 ? Math.floor(rand() * h) : u < 0.98 ? Math.floor(rand() * h * 6) : 2 ** 31 + Math.floor(rand() * 2 ** 31);
      }
      const got = Array.from(rleToBbox({ h, w, cnts }));
      const want = bboxAsMaskApi(cnts, h, w);
      if (got.join() !== want.join()) {
        differ++;
        first ||= JSON.stringify({ h, w, cnts: Array.from(cnts), got, want });
      }
    }
    expect(differ, first).toBe(0);
  });
});

describe('runsSummary (one step per pair of runs when every run of ones is non-empty)', () => {
  it('gives the box of maskApi.c, the sums of the runs and plainArea, also for totals other than h*w and runs past 2^31', () => {
    const rand = lcg(29);
    const out = new Float64Array(SUMMARY_LENGTH);
    let differ = 0;
    let first = '';
    for (let n = 0; n < 5000; n++) {
      const h = 1 + Math.floor(rand() * 40);
      const w = 1 + Math.floor(rand() * 40);
      if (n % 4 === 0) {
        // well-formed masks (total h*w), some with an empty run of zeros inside or at the end
        const cnts = randomRle(rand, h, w).cnts.slice();
        if (n % 8 === 0 && cnts.length > 2) {
          const j = 2 * (1 + Math.floor(rand() * Math.floor((cnts.length - 1) / 2)));
          if (j < cnts.length) {
            cnts[j - 1]! += cnts[j]!;
            cnts[j] = 0;
          }
        }
        runsSummary(cnts, 0, cnts.length, h, w, out);
        const want = [...Array.from(rleToBbox({ h, w, cnts })), rleArea({ h, w, cnts }), h * w, plainArea({ h, w, cnts })];
        if (Array.from(out).join() !== want.join()) {
          differ++;
          first ||= JSON.stringify({ h, w, cnts: Array.from(cnts), got: Array.from(out), want });
        }
        continue;
      }
      const k = Math.floor(rand() * 30);
      const cnts = new Uint32Array(k);
      for (let j = 0; j < k; j++) {
        const u = rand();
        // no empty run of ones (the first run of zeros may be empty); runs within a column, over
        // several columns, ending at a column's bottom, and (rarely) of 2^31 or more
        const min = j % 2;
        cnts[j] = u < 0.1 ? min : u < 0.2 ? h : u < 0.7 ? min + Math.floor(rand() * h) : u < 0.99 ? min + Math.floor(rand() * h * 6) : 2 ** 31 + Math.floor(rand() * 2 ** 31);
      }
      runsSummary(cnts, 0, k, h, w, out);
      let total = 0;
      let area = 0;
      cnts.forEach((c, j) => {
        total += c;
        if (j % 2) area += c;
      });
      const got = Array.from(out);
      const want = [...bboxAsMaskApi(cnts, h, w), area, total, plainArea({ h, w, cnts })];
      if (got.join() !== want.join()) {
        differ++;
        first ||= JSON.stringify({ h, w, cnts: Array.from(cnts), got, want });
      }
    }
    expect(differ, first).toBe(0);
  });
});

describe('decodeInto (compressed strings from bytes into one run store)', () => {
  it('appends, mask after mask, the runs rleFrString gives (large counts and negative deltas too), and -1 without appending for a corrupt string', () => {
    const rand = lcg(31);
    const store = new RunStore();
    const want: number[] = [];
    for (let n = 0; n < 300; n++) {
      const h = 1 + Math.floor(rand() * 60);
      const w = 1 + Math.floor(rand() * 60);
      const s = n % 50 === 0 ? rleToString({ h: 1, w: 1, cnts: Uint32Array.from([2 ** 31 + 5, 7, 3, 2 ** 30, 1]) }) : rleToString(randomRle(rand, h, w));
      const bytes = Uint8Array.from(s, (c) => c.charCodeAt(0));
      const m = decodeInto(store, bytes, 0, bytes.length);
      const d = Array.from(rleFrString(s, h, w).cnts);
      expect(m).toBe(d.length);
      want.push(...d);
    }
    expect(Array.from(store.finish())).toEqual(want);
    const before = store.length;
    expect(decodeInto(store, Uint8Array.from('01h0~', (c) => c.charCodeAt(0)), 0, 5)).toBe(-1);
    expect(decodeInto(store, Uint8Array.from('0`', (c) => c.charCodeAt(0)), 0, 2)).toBe(-1);
    expect(store.length).toBe(before);
  });
});

describe('decodeSummaryInto (decoding, then measuring the new runs)', () => {
  it('stores the runs decodeInto stores and gives the box, area and total of runsSummary', () => {
    const rand = lcg(41);
    const a = new RunStore();
    const b = new RunStore();
    const got = new Float64Array(SUMMARY_LENGTH);
    const want = new Float64Array(SUMMARY_LENGTH);
    for (let n = 0; n < 600; n++) {
      const h = 1 + Math.floor(rand() * 50);
      const w = 1 + Math.floor(rand() * 50);
      let cnts: Uint32Array;
      if (n % 7 === 3) cnts = Uint32Array.from({ length: 1 + Math.floor(rand() * 12) }, () => (rand() < 0.3 ? 0 : Math.floor(rand() * h * 3)));
      else if (n % 97 === 5) cnts = Uint32Array.from([0, 0, 5, 2 ** 31 + 3, 4]);
      else cnts = randomRle(rand, h, w).cnts;
      const s = rleToString({ h, w, cnts });
      const bytes = Uint8Array.from(s, (c) => c.charCodeAt(0));
      const at = b.length;
      const m = decodeInto(b, bytes, 0, bytes.length);
      runsSummary(b.data, at, m, h, w, want);
      expect(decodeSummaryInto(a, bytes, 0, bytes.length, h, w, got)).toBe(m);
      expect(Array.from(got), s).toEqual(Array.from(want));
    }
    expect(Array.from(a.finish())).toEqual(Array.from(b.finish()));
  });
});
