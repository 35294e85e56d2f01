import { describe, expect, it } from 'vitest';
import { npMean, npSum } from '../src/eval/numpy.js';
import { readFixture } from './fixtures.js';

// numpy-sum.json: np.sum / np.mean of arrays given by formulas (numpy 1.24), at sizes around the
// 8192-element blocks numpy's reduction works in
const fixture = readFixture('numpy-sum.json') as { cases: { array: 'a' | 'b'; n: number; sum: number; mean: number }[] };
const arrays = {
  a: (n: number) => Float64Array.from({ length: n }, (_, i) => ((i * 7919) % 10007) / 10007),
  b: (n: number) => Float64Array.from({ length: n }, (_, i) => (1 / (1 + (i % 97))) * ((i % 3) - 0.9)),
};

describe('npSum / npMean reproduce numpy bit for bit', () => {
  for (const c of fixture.cases) {
    it(`array ${c.array}, n = ${c.n}`, () => {
      const v = arrays[c.array](c.n);
      expect(npSum(v)).toBe(c.sum);
      expect(npMean(v)).toBe(c.mean);
    });
  }

  it('sums past 8192 elements block by block, which differs from one pairwise sum over the whole array here', () => {
    // the fixture would not test the blocks if both ways gave the same doubles
    const c = fixture.cases.find((x) => x.array === 'a' && x.n === 80800)!;
    const v = arrays.a(c.n);
    const halves = (lo: number, n: number): number => {
      if (n <= 8192) return npSum(v.subarray(lo, lo + n));
      let n2 = Math.floor(n / 2);
      n2 -= n2 % 8;
      return halves(lo, n2) + halves(lo + n2, n - n2);
    };
    expect(halves(0, c.n)).not.toBe(c.sum);
    expect(npSum(v)).toBe(c.sum);
  });
});
