import { describe, expect, it } from 'vitest';
import { aspectRatioGroups, epochBatches } from '../src/internals.js';

describe('epochBatches', () => {
  it('covers every index once, in order without shuffle', () => {
    expect(epochBatches(7, { batchSize: 3 })).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    expect(epochBatches(7, { batchSize: 3, dropLast: true })).toEqual([[0, 1, 2], [3, 4, 5]]);
  });

  it('shuffles deterministically from (seed, epoch)', () => {
    const a = epochBatches(50, { batchSize: 4, shuffle: true, seed: 3 }, 1);
    expect(a).toEqual(epochBatches(50, { batchSize: 4, shuffle: true, seed: 3 }, 1));
    expect(a).not.toEqual(epochBatches(50, { batchSize: 4, shuffle: true, seed: 3 }, 2));
    expect(a).not.toEqual(epochBatches(50, { batchSize: 4, shuffle: true, seed: 4 }, 1));
    expect(a.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('keeps each batch inside one aspect-ratio group', () => {
    const recs = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? { width: 100, height: 200 } : { width: 200, height: 100 }));
    const groups = aspectRatioGroups(recs);
    expect(groups[0]).toBe(0);
    expect(groups[1]).toBe(1);
    const batches = epochBatches(40, { batchSize: 4, shuffle: true, seed: 1, groups });
    for (const b of batches) expect(new Set(b.map((i) => groups[i])).size).toBe(1);
    expect(batches.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('shards by rank/worldSize: equal counts, disjoint unless padded, union covers all', () => {
    const world = 3;
    const shards = Array.from({ length: world }, (_, rank) => epochBatches(22, { batchSize: 2, shuffle: true, seed: 9, rank, worldSize: world }, 0));
    const counts = shards.map((s) => s.length);
    expect(new Set(counts).size).toBe(1); // 11 batches padded to 12 -> 4 each
    expect(counts[0]).toBe(4);
    const all = shards.flat(2);
    expect(new Set(all).size).toBe(22);
    expect(all.length).toBe(24); // one batch repeated as padding
    expect(() => epochBatches(10, { batchSize: 2, rank: 3, worldSize: 3 })).toThrow(/rank/);
  });
});
