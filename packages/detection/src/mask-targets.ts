import { roiAlignForwardHost } from './roi-align.js';

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
