import { describe, expect, it } from 'vitest';
import { area, decode, encode, frPyObjects, iou, merge, toBbox, type RleObject } from '../src/index.js';
import { maskToRows, readFixture, rowsToMask } from './fixtures.js';

interface Case {
  op: string;
  name?: string;
  input: any;
  output: any;
  also?: any;
}
const cases = readFixture<{ cases: Case[] }>('mask-seed1/expected.json').cases;

function checkRle(got: RleObject, want: any): void {
  expect(got.size).toEqual(want.size);
  expect(got.counts).toBe(want.counts);
  if (want.area !== undefined) expect(area(got)).toBe(want.area);
  if (want.bbox !== undefined) expect(toBbox(got)).toEqual(want.bbox);
  if (want.mask !== undefined) expect(maskToRows(decode(got), got.size[0], got.size[1])).toEqual(want.mask);
}

describe('mask API against pycocotools (mask-seed1)', () => {
  it('has every op of the fixture', () => {
    expect(new Set(cases.map((c) => c.op))).toEqual(new Set(['encode', 'decode', 'area', 'toBbox', 'merge', 'iou', 'frPyObjects']));
  });

  for (const [i, c] of cases.entries()) {
    it(`${c.op} ${c.name ?? i}`, () => {
      switch (c.op) {
        case 'encode': {
          const { mask, h, w } = rowsToMask(c.input.mask);
          const rle = encode(mask, h, w);
          expect(rle).toEqual({ size: c.output.size, counts: c.output.counts });
          expect(Array.from(decode({ size: [h, w], counts: c.output.counts_list }))).toEqual(Array.from(mask));
          expect(maskToRows(decode(rle), h, w)).toEqual(c.input.mask);
          expect(area(rle)).toBe(c.also.area);
          expect(toBbox(rle)).toEqual(c.also.toBbox);
          break;
        }
        case 'decode': {
          const [h, w] = c.input.size;
          expect(maskToRows(decode(c.input), h, w)).toEqual(c.output.mask);
          break;
        }
        case 'area':
          expect(area(c.input)).toEqual(c.output);
          break;
        case 'toBbox':
          expect(toBbox(c.input)).toEqual(c.output);
          break;
        case 'merge':
          checkRle(merge(c.input.rles, !!c.input.intersect), c.output);
          break;
        case 'iou':
          expect(iou(c.input.dt, c.input.gt, c.input.iscrowd)).toEqual(c.output);
          break;
        case 'frPyObjects': {
          const got = frPyObjects(c.input.obj, c.input.h, c.input.w);
          if (Array.isArray(c.output)) {
            expect(Array.isArray(got)).toBe(true);
            const list = got as unknown as RleObject[];
            expect(list.length).toBe(c.output.length);
            list.forEach((r, j) => checkRle(r, c.output[j]));
          } else {
            checkRle(got as RleObject, c.output);
          }
          break;
        }
        default:
          throw new Error(`unknown op ${c.op}`);
      }
    });
  }
});
