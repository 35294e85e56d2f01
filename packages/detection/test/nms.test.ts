import { describe, expect, it } from 'vitest';
import { batchedNms, nms } from '../src/ops.js';

describe('NMS', () => {
  it('suppresses IoU > thr, keeps IoU == thr, returns descending scores', () => {
    const boxes = [0, 0, 10, 10, 0, 0, 10, 5, 50, 50, 60, 60];
    const scores = [0.9, 0.8, 0.1];
    // Box 1 vs box 0: IoU exactly 0.5 -> kept at threshold 0.5, suppressed below it.
    expect(Array.from(nms(boxes, scores, 0.5))).toEqual([0, 1, 2]);
    expect(Array.from(nms(boxes, scores, 0.49))).toEqual([0, 2]);
    expect(Array.from(nms(boxes, scores, 0.5, 2))).toEqual([0, 1]);
    // Only kept boxes suppress: box 0 falls to box 2 (IoU 0.82), so box 1 (IoU 0.43 with box 2) stays.
    expect(Array.from(nms([0, 0, 10, 10, 0, 0, 10, 5, 1, 0, 11, 10], [0.9, 0.8, 0.95], 0.49))).toEqual([2, 1]);
  });

  it('equal scores keep input order', () => {
    expect(Array.from(nms([0, 0, 10, 10, 0, 0, 10, 10], [0.5, 0.5], 0.5))).toEqual([0]);
  });

  it('class-aware: different groups never suppress each other', () => {
    const boxes = [0, 0, 10, 10, 0, 0, 10, 10, 0, 0, 10, 10];
    const kept = batchedNms(boxes, [0.3, 0.9, 0.6], [1, 0, 1], 0.5);
    expect(Array.from(kept)).toEqual([1, 2]);
    expect(Array.from(batchedNms(boxes, [0.3, 0.9, 0.6], [1, 0, 1], 0.5, 1))).toEqual([1]);
    expect(batchedNms([], [], [], 0.5).length).toBe(0);
  });
});
