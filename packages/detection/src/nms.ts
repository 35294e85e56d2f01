import { boxIntersection, numBoxes } from '@partialnet/data/boxes';

/** Indices of boxes sorted by descending score; equal scores keep their input order. */
export function argsortDesc(scores: ArrayLike<number>): Int32Array {
  const idx = Int32Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return idx;
}

function iou(b: ArrayLike<number>, i: number, j: number, areaI: number, areaJ: number): number {
  const inter = boxIntersection(b, i, b, j);
  return inter === 0 ? 0 : inter / (areaI + areaJ - inter);
}

/**
 * Greedy NMS as mmcv / torchvision: boxes in descending score order; a box is suppressed by a
 * kept one when their IoU is strictly greater than `iouThr` (IoU equal to the threshold survives).
 * Returns kept indices in descending score order, at most `maxNum` when given (> 0).
 */
export function nms(boxes: ArrayLike<number>, scores: ArrayLike<number>, iouThr: number, maxNum = -1): Int32Array {
  const n = numBoxes(boxes);
  if (scores.length !== n) throw new Error(`nms: ${n} boxes but ${scores.length} scores`);
  const order = argsortDesc(scores);
  const areas = new Float64Array(n);
  for (let i = 0; i < n; i++) areas[i] = (boxes[4 * i + 2]! - boxes[4 * i]!) * (boxes[4 * i + 3]! - boxes[4 * i + 1]!);
  const suppressed = new Uint8Array(n);
  const keep: number[] = [];
  for (let a = 0; a < n; a++) {
    const i = order[a]!;
    if (suppressed[i]) continue;
    keep.push(i);
    if (maxNum > 0 && keep.length >= maxNum) break;
    for (let b = a + 1; b < n; b++) {
      const j = order[b]!;
      if (!suppressed[j] && iou(boxes, i, j, areas[i]!, areas[j]!) > iouThr) suppressed[j] = 1;
    }
  }
  return Int32Array.from(keep);
}

/**
 * Class-aware NMS (mmcv's batched_nms): boxes of different `groups` (class labels, or levels for
 * RPN proposals) never suppress each other. Returns kept indices over all groups in descending
 * score order, truncated to `maxNum` when given (> 0).
 */
export function batchedNms(boxes: ArrayLike<number>, scores: ArrayLike<number>, groups: ArrayLike<number>, iouThr: number, maxNum = -1): Int32Array {
  const n = numBoxes(boxes);
  const byGroup = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const g = groups[i]!;
    let list = byGroup.get(g);
    if (!list) byGroup.set(g, (list = []));
    list.push(i);
  }
  const kept: number[] = [];
  for (const members of byGroup.values()) {
    const sub = new Float32Array(members.length * 4);
    const subScores = new Float32Array(members.length);
    members.forEach((i, k) => {
      for (let c = 0; c < 4; c++) sub[4 * k + c] = boxes[4 * i + c]!;
      subScores[k] = scores[i]!;
    });
    for (const k of nms(sub, subScores, iouThr)) kept.push(members[k]!);
  }
  kept.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return Int32Array.from(maxNum > 0 ? kept.slice(0, maxNum) : kept);
}
