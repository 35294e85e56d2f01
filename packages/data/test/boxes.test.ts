import { describe, expect, it } from 'vitest';
import { boxIntersection, boxIou, boxOverlaps, boxesToOriginal, clipBoxes, selectBoxes } from '../src/boxes.js';

describe('box utilities', () => {
  it('IoU and IoF', () => {
    const iou = boxIou([0, 0, 10, 10, 5, 5, 15, 15], [0, 0, 10, 5, 20, 20, 30, 30]);
    expect(Array.from(iou).map((v) => +v.toFixed(4))).toEqual([0.5, 0, 0, 0]);
    expect(boxIou([0, 0, 10, 10], [5, 5, 15, 15])[0]).toBeCloseTo(25 / 175);
    const iof = boxOverlaps([0, 0, 10, 10], [5, 0, 20, 20], 'iof');
    expect(iof[0]).toBeCloseTo(0.5);
    // Degenerate and touching boxes give 0, not NaN.
    expect(Array.from(boxIou([0, 0, 0, 0, 0, 0, 10, 10], [0, 0, 0, 0, 10, 0, 20, 10]))).toEqual([0, 0, 0, 0]);
    expect(boxIntersection([0, 0, 10, 10], 0, [5, 5, 15, 15], 0)).toBe(25);
  });

  it('clips and selects', () => {
    expect(Array.from(clipBoxes(Float32Array.from([-5, 2, 30, 12]), 10, 20))).toEqual([0, 2, 20, 10]);
    expect(Array.from(selectBoxes([0, 1, 2, 3, 4, 5, 6, 7], [1, 1]))).toEqual([4, 5, 6, 7, 4, 5, 6, 7]);
  });

  it('maps boxes back to the original image (scale, flip, clip)', () => {
    const out = boxesToOriginal([10, 20, 30, 40], { imgShape: [100, 200], oriShape: [50, 100], scaleFactor: [2, 2], flip: true });
    expect(Array.from(out)).toEqual([85, 10, 95, 20]);
    // Without resize metadata: only unflipped and clipped to the image.
    expect(Array.from(boxesToOriginal([-4, 20, 30, 140], { imgShape: [100, 200] }))).toEqual([0, 20, 30, 100]);
  });
});
