import type { DetectionMeta } from './types.js';

/**
 * Host-side box utilities. Boxes are [x1, y1, x2, y2] in absolute pixels, packed 4 per box in a
 * Float32Array; widths are x2 - x1 (mmdet v2, no +1).
 */

export function numBoxes(boxes: ArrayLike<number>): number {
  if (boxes.length % 4 !== 0) throw new Error(`boxes: length ${boxes.length} is not a multiple of 4`);
  return boxes.length / 4;
}

export function boxArea(boxes: ArrayLike<number>): Float32Array {
  const n = numBoxes(boxes);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (boxes[4 * i + 2]! - boxes[4 * i]!) * (boxes[4 * i + 3]! - boxes[4 * i + 1]!);
  return out;
}

/**
 * Pairwise overlaps [n, m] row-major: IoU, or IoF (intersection over the area of the box of `a`,
 * which is what ignore regions use: how much of a candidate lies inside a crowd box).
 */
export function boxOverlaps(a: ArrayLike<number>, b: ArrayLike<number>, mode: 'iou' | 'iof' = 'iou'): Float32Array {
  const n = numBoxes(a);
  const m = numBoxes(b);
  const out = new Float32Array(n * m);
  const areaB = boxArea(b);
  for (let i = 0; i < n; i++) {
    const ax1 = a[4 * i]!, ay1 = a[4 * i + 1]!, ax2 = a[4 * i + 2]!, ay2 = a[4 * i + 3]!;
    const areaA = (ax2 - ax1) * (ay2 - ay1);
    for (let j = 0; j < m; j++) {
      const w = Math.min(ax2, b[4 * j + 2]!) - Math.max(ax1, b[4 * j]!);
      if (w <= 0) continue;
      const h = Math.min(ay2, b[4 * j + 3]!) - Math.max(ay1, b[4 * j + 1]!);
      if (h <= 0) continue;
      const inter = w * h;
      // mmdet clamps the union / area from below by eps so degenerate boxes give 0, not NaN.
      const denom = mode === 'iou' ? areaA + areaB[j]! - inter : areaA;
      out[i * m + j] = inter / Math.max(denom, 1e-6);
    }
  }
  return out;
}

export function boxIou(a: ArrayLike<number>, b: ArrayLike<number>): Float32Array {
  return boxOverlaps(a, b, 'iou');
}

/** Clips boxes in place to [0, width] x [0, height]. */
export function clipBoxes(boxes: Float32Array, height: number, width: number): Float32Array {
  for (let i = 0; i < boxes.length; i += 4) {
    boxes[i] = Math.min(Math.max(boxes[i]!, 0), width);
    boxes[i + 1] = Math.min(Math.max(boxes[i + 1]!, 0), height);
    boxes[i + 2] = Math.min(Math.max(boxes[i + 2]!, 0), width);
    boxes[i + 3] = Math.min(Math.max(boxes[i + 3]!, 0), height);
  }
  return boxes;
}

/** The subset of boxes at `indices`, packed. */
export function selectBoxes(boxes: ArrayLike<number>, indices: ArrayLike<number>): Float32Array {
  const out = new Float32Array(indices.length * 4);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    out[4 * k] = boxes[4 * i]!;
    out[4 * k + 1] = boxes[4 * i + 1]!;
    out[4 * k + 2] = boxes[4 * i + 2]!;
    out[4 * k + 3] = boxes[4 * i + 3]!;
  }
  return out;
}

/**
 * Maps boxes of the transformed (resized, maybe flipped) image back to the original image: the
 * same arithmetic as `@partialnet/data`'s boxesToOriginal, kept here so that inference does not
 * load the image decoder. Without `scaleFactor` / `oriShape` the boxes stay as they are.
 */
export function boxesToOriginalImage(boxes: ArrayLike<number>, meta: DetectionMeta): Float32Array {
  const out = new Float32Array(boxes.length);
  const w = meta.imgShape[1];
  const [sx, sy] = meta.scaleFactor ?? [1, 1];
  const [oh, ow] = meta.oriShape ?? meta.imgShape;
  for (let i = 0; i + 3 < boxes.length; i += 4) {
    let x1 = boxes[i]!;
    let x2 = boxes[i + 2]!;
    if (meta.flip) [x1, x2] = [w - x2, w - x1];
    out[i] = Math.min(Math.max(x1 / sx, 0), ow);
    out[i + 1] = Math.min(Math.max(boxes[i + 1]! / sy, 0), oh);
    out[i + 2] = Math.min(Math.max(x2 / sx, 0), ow);
    out[i + 3] = Math.min(Math.max(boxes[i + 3]! / sy, 0), oh);
  }
  return out;
}
