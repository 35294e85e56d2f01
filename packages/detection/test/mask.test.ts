import { describe, expect, it } from 'vitest';
import { decode, frPyObjects, merge } from '@partialnet/coco';
import { instanceBitmap } from '@partialnet/data/masks';
import { detectionMasksToRle } from '../src/index.js';
import { maskTargets, pasteMask, pasteMasks } from '../src/ops.js';
import { rectMask } from './helpers.js';

/** mmdet's _do_paste_mask over every pixel (grid_sample, align_corners = false, zero padding), column-major. */
function reference(mask: Float32Array, m: number, [x0, y0, x1, y1]: number[], h: number, w: number): Uint8Array {
  const out = new Uint8Array(h * w);
  const at = (r: number, c: number) => (r < 0 || r >= m || c < 0 || c >= m ? 0 : mask[r * m + c]!);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const gx = ((x + 0.5 - x0!) / (x1! - x0!)) * 2 - 1;
      const gy = ((y + 0.5 - y0!) / (y1! - y0!)) * 2 - 1;
      const ix = ((gx + 1) * m - 1) / 2;
      const iy = ((gy + 1) * m - 1) / 2;
      const c = Math.floor(ix);
      const r = Math.floor(iy);
      const lx = ix - c;
      const ly = iy - r;
      const v = (1 - ly) * ((1 - lx) * at(r, c) + lx * at(r, c + 1)) + ly * ((1 - lx) * at(r + 1, c) + lx * at(r + 1, c + 1));
      out[x * h + y] = v >= 0.5 ? 1 : 0;
    }
  }
  return out;
}

describe('mask paste-back', () => {
  it('a full mask fills exactly the pixels whose centres lie in the box (column-major)', () => {
    const out = pasteMask(new Float32Array(28 * 28).fill(1), 28, [2, 3, 10, 12], 20, 16);
    for (let x = 0; x < 16; x++) for (let y = 0; y < 20; y++) expect(out[x * 20 + y]).toBe(x >= 2 && x < 10 && y >= 3 && y < 12 ? 1 : 0);
  });

  it('matches grid_sample pasting for random masks and fractional boxes', () => {
    let s = 1;
    const rand = () => ((s = (s * 16807) % 2147483647) / 2147483647);
    for (let t = 0; t < 20; t++) {
      const mask = Float32Array.from({ length: 28 * 28 }, rand);
      const x0 = rand() * 30 - 5;
      const y0 = rand() * 30 - 5;
      const box = [x0, y0, x0 + 1 + rand() * 40, y0 + 1 + rand() * 30];
      expect(Array.from(pasteMask(mask, 28, box, 33, 41))).toEqual(Array.from(reference(mask, 28, box, 33, 41)));
    }
  });

  it('flips the mask for flipped images and skips empty boxes', () => {
    const mask = new Float32Array(4 * 4);
    for (let r = 0; r < 4; r++) mask[r * 4] = 1; // left column
    const flipped = pasteMask(mask, 4, [0, 0, 8, 8], 8, 8, 0.5, true);
    expect(flipped[7 * 8 + 3]).toBe(1);
    expect(flipped[0 * 8 + 3]).toBe(0);
    expect(pasteMasks(mask, 4, [3, 3, 3, 9], 8, 8)[0]!.every((v) => v === 0)).toBe(true);
  });

  it('encodes pasted masks as COCO RLE', () => {
    const masks = pasteMasks(new Float32Array(2 * 28 * 28).fill(1), 28, [1, 1, 5, 6, 0, 0, 2, 2], 10, 12);
    const rles = detectionMasksToRle({ boxes: new Float32Array(8), scores: new Float32Array(2), labels: new Int32Array(2), masks, maskShape: [10, 12] });
    expect(rles).toHaveLength(2);
    expect(Array.from(decode(rles[0]!))).toEqual(Array.from(masks[0]!));
  });
});

describe('mask targets', () => {
  it('crops gt bitmaps with RoIAlign to 28x28 and binarises at 0.5', () => {
    const gt = rectMask(40, 40, 10, 10, 20, 30);
    const bitmap = instanceBitmap(gt, 40, 40);
    // The proposal equals the gt box: all ones; a proposal twice as wide: left half ones.
    const t = maskTargets([10, 10, 20, 30, 10, 10, 30, 30], [0, 0], () => bitmap, 40, 40, 28);
    expect(t.subarray(0, 28 * 28).every((v) => v === 1)).toBe(true);
    const second = t.subarray(28 * 28);
    for (let r = 0; r < 28; r++) {
      expect(second[r * 28 + 5]).toBe(1);
      expect(second[r * 28 + 22]).toBe(0);
    }
  });

  it('rasterises gt polygons exactly as the COCO mask API (frPyObjects + merge + decode), transposed to row-major', () => {
    // Non-square image (h 23, w 31) so swapped height and width would show; fractional vertices,
    // a concave ring, a ring crossing the border, and two rings of one instance merged.
    const [h, w] = [23, 31];
    const cases = [
      [[2.3, 2.1, 10.6, 2.4, 10.2, 8.7, 2.5, 8.1]],
      [[4, 3, 26, 5, 15, 9, 25, 18, 3, 20]],
      [[20, -3, 40, 4, 28, 30]],
      [[1, 1, 6, 1, 6, 6], [12.5, 14, 22, 14.5, 17, 21.7]],
    ];
    for (const polygons of cases) {
      const mine = instanceBitmap({ kind: 'polygons', polygons }, h, w);
      const rles = frPyObjects(polygons, h, w);
      const coco = decode(rles.length === 1 ? rles[0]! : merge(rles)); // column-major
      let set = 0;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          expect(mine[y * w + x], `(${x}, ${y}) of ${JSON.stringify(polygons)}`).toBe(coco[x * h + y]);
          set += mine[y * w + x]!;
        }
      }
      expect(set).toBeGreaterThan(10);
    }
  });
});
