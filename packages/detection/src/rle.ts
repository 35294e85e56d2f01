import { encode, type CompressedRle } from '@partialnet/coco';
import type { Detections } from './types.js';

/** COCO RLEs of a detection set's masks (column-major, as pasted and as COCO stores them), for results files. */
export function detectionMasksToRle(dets: Detections): CompressedRle[] {
  if (!dets.masks || !dets.maskShape) return [];
  const [h, w] = dets.maskShape;
  return dets.masks.map((m) => encode(m, h, w));
}
