import { describe, expect, it } from 'vitest';
import { area, decode, encode, frBbox, frPoly, frPyObjects, frUncompressed, iou, merge, toBbox, type RleObject } from '../src/index.js';
import { rleFrString, rleToString } from '../src/mask/rle.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

function randomMask(rand: () => number, h: number, w: number, p: number): Uint8Array {
  const m = new Uint8Array(h * w);
  for (let i = 0; i < m.length; i++) m[i] = rand() < p ? 1 : 0;
  return m;
}

describe('RLE encode / decode', () => {
  it('round-trips random masks of many shapes and densities', () => {
    const rand = lcg(3);
    for (let n = 0; n < 200; n++) {
      const h = 1 + Math.floor(rand() * 40);
      const w = 1 + Math.floor(rand() * 40);
      const mask = randomMask(rand, h, w, rand());
      const rle = encode(mask, h, w);
      expect(rle.size).toEqual([h, w]);
      expect(decode(rle)).toEqual(mask);
      expect(area(rle)).toBe(mask.reduce((s, v) => s + v, 0));
    }
  });

  it('round-trips run lengths through the compressed string, including large counts and negative deltas', () => {
    const cases = [[0], [5], [0, 1], [3, 1_000_000, 2, 7, 999_999, 1], [1 << 30, 1, 1, (1 << 30) + 5, 3], [40, 2, 1, 1, 100000, 1, 1, 0]];
    for (const cnts of cases) {
      const s = rleToString({ h: 1, w: 1, cnts: Uint32Array.from(cnts) });
      expect(Array.from(rleFrString(s, 1, 1).cnts)).toEqual(cnts);
    }
  });

  it('rejects characters outside the alphabet and truncated counts', () => {
    expect(() => rleFrString('01h0~', 5, 5)).toThrow(/outside 48\.\.111/);
    expect(() => rleFrString('0`', 5, 5)).toThrow(/ends inside a count/);
  });

  it('decodes a list of RLEs into consecutive masks (h x w x n)', () => {
    const a = encode(Uint8Array.from([1, 0, 0, 1]), 2, 2);
    const b = encode(Uint8Array.from([0, 1, 1, 1]), 2, 2);
    expect(Array.from(decode([a, b]))).toEqual([1, 0, 0, 1, 0, 1, 1, 1]);
  });
});

describe('merge and iou', () => {
  it('union and intersection agree with pixelwise or / and', () => {
    const rand = lcg(9);
    for (let n = 0; n < 50; n++) {
      const h = 1 + Math.floor(rand() * 20);
      const w = 1 + Math.floor(rand() * 20);
      const masks = [0, 1, 2].map(() => randomMask(rand, h, w, 0.4));
      const rles = masks.map((m) => encode(m, h, w));
      const or = masks[0]!.map((_, i) => masks[0]![i]! | masks[1]![i]! | masks[2]![i]!);
      const and = masks[0]!.map((_, i) => masks[0]![i]! & masks[1]![i]! & masks[2]![i]!);
      expect(decode(merge(rles))).toEqual(or);
      expect(decode(merge(rles, true))).toEqual(and);
      // iou from the merged masks
      const inter = area(merge(rles.slice(0, 2), true));
      const uni = area(merge(rles.slice(0, 2)));
      const [[v]] = iou([rles[0]!], [rles[1]!], [0]) as [[number]];
      expect(v).toBe(inter === 0 ? 0 : inter / uni);
    }
  });

  it('merge of one RLE is a copy; sizes that differ give an empty 0x0 RLE as maskApi.c', () => {
    const a = encode(Uint8Array.from([1, 1, 0, 0]), 2, 2);
    expect(merge([a])).toEqual(a);
    const b = encode(Uint8Array.from([1, 1, 0]), 3, 1);
    expect(merge([a, b]).size).toEqual([0, 0]);
  });

  it('crowd ground truth: the union is the detection area', () => {
    const gt = encode(Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1]), 3, 3);
    const dt = encode(Uint8Array.from([1, 1, 0, 0, 0, 0, 0, 0, 0]), 3, 3);
    expect(iou([dt], [gt], [0])).toEqual([[2 / 9]]);
    expect(iou([dt], [gt], [1])).toEqual([[1]]);
    // boxes: detection half inside a crowd box
    expect(iou([[0, 0, 10, 10]], [[5, 0, 100, 100]], [true])).toEqual([[0.5]]);
    expect(iou([[0, 0, 10, 10]], [[5, 0, 100, 100]], [false])).toEqual([[50 / (100 + 10000 - 50)]]);
  });

  it('returns -1 for RLEs of different sizes, [] for an empty side, and rejects mixed kinds', () => {
    const a = encode(Uint8Array.from([1, 1, 1, 1]), 2, 2);
    const b = encode(Uint8Array.from([1, 1, 1, 1]), 4, 1);
    expect(iou([a], [b], [0])).toEqual([[-1]]);
    expect(iou([], [a], [0])).toEqual([]);
    expect(iou([a], [], [])).toEqual([]);
    expect(() => iou([a] as never, [[0, 0, 1, 1]] as never, [0])).toThrow(/both be boxes/);
    expect(() => iou([a], [a], [0, 1])).toThrow(/iscrowd has 2 entries/);
  });
});

describe('toBbox, frPoly, frBbox, frPyObjects', () => {
  it('toBbox covers every row when a run spans two columns', () => {
    // 3x2 mask: pixels (y=2, x=0) and (y=0, x=1) form one column-major run
    const r = encode(Uint8Array.from([0, 0, 1, 1, 0, 0]), 3, 2);
    expect(toBbox(r)).toEqual([0, 0, 2, 3]);
    expect(toBbox(encode(new Uint8Array(6), 3, 2))).toEqual([0, 0, 0, 0]);
  });

  it('rasterizes an axis-aligned rectangle to its integer area', () => {
    const [r] = frPoly([[2, 3, 12, 3, 12, 8, 2, 8]], 20, 20);
    expect(area(r!)).toBe(50);
    expect(toBbox(r!)).toEqual([2, 3, 10, 5]);
    const [b] = frBbox([[2, 3, 10, 5]], 20, 20);
    expect(b).toEqual(r);
  });

  it('clips polygons to the image and survives repeated vertices', () => {
    const [r] = frPoly([[-5, -5, 30, -5, 30, 30, -5, 30]], 10, 12);
    expect(area(r!)).toBe(120);
    const [d] = frPoly([[1, 1, 1, 1, 6, 1, 6, 6, 6, 6, 1, 6]], 10, 10);
    const [s] = frPoly([[1, 1, 6, 1, 6, 6, 1, 6]], 10, 10);
    expect(d).toEqual(s);
  });

  it('dispatches like pycocotools: single uncompressed RLE -> one RLE, lists -> lists', () => {
    const uc: RleObject = { size: [2, 2], counts: [1, 2, 1] };
    const one = frPyObjects(uc, 2, 2);
    expect(Array.isArray(one)).toBe(false);
    expect(decode(one)).toEqual(Uint8Array.from([0, 1, 1, 0]));
    expect(frPyObjects([uc, uc], 2, 2)).toEqual([one, one]);
    expect(frUncompressed([uc])).toEqual([one]);
    expect(frPyObjects([[0, 0, 2, 2]], 4, 4)).toEqual(frBbox([[0, 0, 2, 2]], 4, 4));
    expect(frPyObjects([], 4, 4)).toEqual([]);
    expect(() => frPyObjects([[1, 2]] as never, 4, 4)).toThrow(/not supported/);
  });
});

describe('rleStringSummary on a string longer than any decoded before', () => {
  it('summarises the runs it just decoded (the decode buffer grows mid-call)', async () => {
    const { rleEncode, rleToString, rleStringSummary, rleArea, rleToBbox } = await import('../src/mask/rle.js');
    // 800 x 1333 with a run every few pixels: ~180k runs, far more than the 1024-run start buffer
    const h = 800;
    const w = 1333;
    const mask = new Uint8Array(h * w);
    for (let i = 0; i < mask.length; i++) mask[i] = i % 7 < 3 && i > 5000 && i < 640_000 ? 1 : 0;
    const rle = rleEncode(mask, h, w);
    const out = new Float64Array(6);
    rleStringSummary(rleToString(rle), h, w, out);
    expect(out[5]).toBe(h * w);
    expect(out[4]).toBe(rleArea(rle));
    expect(Array.from(out.subarray(0, 4))).toEqual(Array.from(rleToBbox(rle)));
  });
});
