import { describe, expect, it } from 'vitest';
import { IRPE, irpeBucket, irpeBucketIds } from '../src/layers.js';

describe('iRPE buckets (euclidean, ratio 20)', () => {
  it('is the identity (shifted by beta) up to alpha', () => {
    for (let d = 0; d <= IRPE.alpha; d++) expect(irpeBucket(d)).toBe(d + IRPE.beta);
  });

  it('is logarithmic beyond alpha and clipped at beta', () => {
    // Hand computed: 20 + ln(d/20) / ln(160/20) * (40 - 20), rounded, clipped at 40, plus 40.
    expect(irpeBucket(21)).toBe(60); // 20.469
    expect(irpeBucket(24)).toBe(62); // 21.754
    expect(irpeBucket(30)).toBe(64); // 23.900
    expect(irpeBucket(40)).toBe(67); // 26.667
    expect(irpeBucket(160)).toBe(80); // 40
    expect(irpeBucket(5000)).toBe(80); // clipped
  });

  it('maps pixel pairs by rounded Euclidean distance', () => {
    const ids = irpeBucketIds(2, 3);
    const L = 6;
    expect(ids.length).toBe(L * L);
    for (let i = 0; i < L; i++) expect(ids[i * L + i]).toBe(40);
    // (0,0) -> (1,2): sqrt(5) = 2.236 -> 2; (0,0) -> (0,2): 2; (0,0) -> (1,1): sqrt(2) -> 1.
    expect(ids[0 * L + 5]).toBe(42);
    expect(ids[0 * L + 2]).toBe(42);
    expect(ids[0 * L + 4]).toBe(41);
    // Symmetric.
    for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) expect(ids[i * L + j]).toBe(ids[j * L + i]);
  });

  it('reaches the logarithmic part on a 16x16 map (512x512 input)', () => {
    const ids = irpeBucketIds(16, 16);
    const max = ids.reduce((m, v) => Math.max(m, v), 0);
    // Farthest pair: sqrt(15^2 + 15^2) = 21.21 -> 21 -> bucket 60.
    expect(max).toBe(60);
    // The fixtures' 7x7 map only uses buckets 40-48.
    expect(new Set(irpeBucketIds(7, 7))).toEqual(new Set([40, 41, 42, 43, 44, 45, 46, 47, 48]));
  });
});
