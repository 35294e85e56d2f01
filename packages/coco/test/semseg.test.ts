import { describe, expect, it } from 'vitest';
import { ConfusionMatrix } from '../src/index.js';

const gt = Uint8Array.from([0, 0, 1, 1, 2, 255, 1, 0]);
const pred = Uint8Array.from([0, 1, 1, 1, 0, 2, 1, 0]);

describe('semantic segmentation metrics (detectron2 SemSegEvaluator)', () => {
  it('matches a hand-computed confusion matrix', () => {
    const cm = new ConfusionMatrix(3);
    cm.update(pred, gt);
    // rows = prediction, columns = ground truth, last column = ignored pixels
    expect(Array.from(cm.matrix)).toEqual([2, 0, 1, 0, 1, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    const m = cm.compute();
    // tp = [2, 3, 0], gt = [3, 3, 1], pred = [3, 4, 0]
    expect(Array.from(m.iou)).toEqual([50, 75, 0]);
    expect(m.acc[0]).toBeCloseTo(200 / 3, 12);
    expect(m.acc[1]).toBe(100);
    expect(m.acc[2]).toBe(0);
    expect(m.mIoU).toBeCloseTo(125 / 3, 12);
    expect(m.fwIoU).toBeCloseTo((100 * (0.5 * 3 + 0.75 * 3)) / 7, 12);
    expect(m.mACC).toBeCloseTo((100 * (2 / 3 + 1)) / 3, 12);
    expect(m.pACC).toBeCloseTo(500 / 7, 12);
  });

  it('gives NaN to classes without ground truth and leaves them out of the means, even when predicted', () => {
    const cm = new ConfusionMatrix(4);
    cm.update(pred, gt);
    const without = cm.compute();
    expect(Number.isNaN(without.iou[3])).toBe(true);
    expect(Number.isNaN(without.acc[3])).toBe(true);
    expect(without.mIoU).toBeCloseTo(125 / 3, 12);
    cm.update([3], [2]); // class 3 predicted where the truth is 2
    const m = cm.compute();
    expect(Number.isNaN(m.iou[3])).toBe(true);
    expect(m.iou[2]).toBe(0);
    expect(m.pACC).toBeCloseTo(500 / 8, 12);
  });

  it('merges matrices and resets', () => {
    const a = new ConfusionMatrix(3);
    const b = new ConfusionMatrix(3);
    a.update(pred.subarray(0, 4), gt.subarray(0, 4));
    b.update(pred.subarray(4), gt.subarray(4));
    a.merge(b);
    const whole = new ConfusionMatrix(3);
    whole.update(pred, gt);
    expect(a.matrix).toEqual(whole.matrix);
    a.reset();
    expect(a.matrix.every((v) => v === 0)).toBe(true);
    expect(() => a.merge(new ConfusionMatrix(4))).toThrow(/4 classes into 3/);
  });

  it('rejects labels outside the classes and mismatched sizes', () => {
    const cm = new ConfusionMatrix(3, 99);
    expect(() => cm.update([0], [255])).toThrow('update: gt[0] = 255: expected a class in 0..2 or the ignore label 99');
    expect(() => cm.update([3], [0])).toThrow('update: pred[0] = 3: expected a class in 0..2');
    expect(() => cm.update([0, 1], [0])).toThrow(/2 predicted pixels but 1/);
    expect(() => new ConfusionMatrix(0)).toThrow(/positive integer/);
    cm.update([1], [99]);
    expect(cm.compute().pACC).toBeNaN();
  });
});
