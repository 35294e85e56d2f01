import { decode, frPoly, merge } from '@partialnet/coco';
import type { InstanceMask } from '@partialnet/data';
import { roiAlignForwardHost } from './roi-align.js';

/** A gt instance mask as a row-major 0/1 bitmap of the current image. */
export function instanceBitmap(mask: InstanceMask, height: number, width: number): Uint8Array {
  if (mask.kind === 'bitmap') {
    if (mask.width === width && mask.height === height) return mask.data;
    // A bitmap of another size (e.g. the padded batch): take its top-left image region.
    const out = new Uint8Array(height * width);
    for (let y = 0; y < Math.min(height, mask.height); y++) out.set(mask.data.subarray(y * mask.width, y * mask.width + Math.min(width, mask.width)), y * width);
    return out;
  }
  const polys = mask.polygons.filter((p) => p.length >= 6).map((p) => [...p]);
  const out = new Uint8Array(height * width);
  if (polys.length === 0) return out;
  const rles = frPoly(polys, height, width);
  const col = decode(rles.length === 1 ? rles[0]! : merge(rles));
  for (let x = 0; x < width; x++) for (let y = 0; y < height; y++) out[y * width + x] = col[x * height + y]!;
  return out;
}

/**
 * Mask targets as mmdet's mask_target / BitmapMasks.crop_and_resize: each positive proposal
 * (clipped to the mask) cuts its gt's bitmap with RoIAlign (aligned, adaptive sampling) to
 * size x size, binarised at 0.5. Returns [P, size, size] row-major 0/1 floats.
 */
export function maskTargets(proposals: ArrayLike<number>, gtIndex: ArrayLike<number>, bitmaps: (i: number) => Uint8Array, height: number, width: number, size: number): Float32Array {
  const P = gtIndex.length;
  const out = new Float32Array(P * size * size);
  const f32 = new Map<number, Float32Array>();
  for (let p = 0; p < P; p++) {
    const g = gtIndex[p]!;
    let img = f32.get(g);
    if (!img) f32.set(g, (img = Float32Array.from(bitmaps(g))));
    const roi = [0, Math.min(Math.max(proposals[4 * p]!, 0), width), Math.min(Math.max(proposals[4 * p + 1]!, 0), height), Math.min(Math.max(proposals[4 * p + 2]!, 0), width), Math.min(Math.max(proposals[4 * p + 3]!, 0), height)];
    const part = roiAlignForwardHost(img, [1, height, width, 1], roi, { outH: size, outW: size, spatialScale: 1, samplingRatio: 0, aligned: true });
    for (let i = 0; i < part.length; i++) out[p * size * size + i] = part[i]! >= 0.5 ? 1 : 0;
  }
  return out;
}
