import type { ImageMeta } from './types.js';

/**
 * Host-side box utilities, the one implementation for the data and model packages. Boxes are
 * [x1, y1, x2, y2] in absolute pixels, packed 4 per box; widths are x2 - x1 (mmdet v2, no +1).
 * Loads no image decoder: `@partialnet/data/boxes`. (COCO evaluation keeps pycocotools' own
 * [x, y, w, h] IoU in @partialnet/coco.)
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

/** Intersection area of box i of `a` and box j of `b`; 0 when they do not overlap. */
export function boxIntersection(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number): number {
  const w = Math.min(a[4 * i + 2]!, b[4 * j + 2]!) - Math.max(a[4 * i]!, b[4 * j]!);
  if (w <= 0) return 0;
  const h = Math.min(a[4 * i + 3]!, b[4 * j + 3]!) - Math.max(a[4 * i + 1]!, b[4 * j + 1]!);
  if (h <= 0) return 0;
  return w * h;
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
    const areaA = (a[4 * i + 2]! - a[4 * i]!) * (a[4 * i + 3]! - a[4 * i + 1]!);
    for (let j = 0; j < m; j++) {
      const inter = boxIntersection(a, i, b, j);
      if (inter === 0) continue;
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
 * Maps boxes [x1,y1,x2,y2]*N predicted on the transformed (resized, maybe flipped) image back to
 * the original image, clipped to it. Padding is only added on the right and bottom, so padded
 * coordinates are the same. Without `scaleFactor` / `oriShape` the boxes are only unflipped and
 * clipped to the image.
 */
export function boxesToOriginal(boxes: ArrayLike<number>, meta: Pick<ImageMeta, 'imgShape'> & Partial<Pick<ImageMeta, 'oriShape' | 'scaleFactor' | 'flip'>>): Float32Array {
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
