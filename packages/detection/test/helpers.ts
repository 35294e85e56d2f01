import type { InstanceMask } from '@partialnet/data';
import type { DetectionMeta, DetectionTargets } from '../src/index.js';

/** A filled-rectangle bitmap mask of an h x w image. */
export function rectMask(h: number, w: number, x1: number, y1: number, x2: number, y2: number): InstanceMask {
  const data = new Uint8Array(h * w);
  for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) data[y * w + x] = 1;
  return { kind: 'bitmap', data, width: w, height: h };
}

/** Two images of size x size: one with a box (bitmap mask) and a triangle (polygon mask), one empty. */
export function tinyTargets(size: number): { targets: DetectionTargets[]; metas: DetectionMeta[] } {
  const s = size / 128;
  const targets: DetectionTargets[] = [
    {
      boxes: Float32Array.from([10, 12, 60, 70, 64, 40, 120, 100].map((v) => v * s)),
      labels: Int32Array.from([1, 2]),
      ignoreBoxes: new Float32Array(0),
      masks: [rectMask(size, size, 10 * s, 12 * s, 60 * s, 70 * s), { kind: 'polygons', polygons: [[64 * s, 100 * s, 120 * s, 100 * s, 92 * s, 40 * s]] }],
    },
    { boxes: new Float32Array(0), labels: new Int32Array(0), ignoreBoxes: new Float32Array(0), masks: [] },
  ];
  const metas: DetectionMeta[] = [
    { imgShape: [size, size], padShape: [size, size], oriShape: [size * 2, size * 2], scaleFactor: [0.5, 0.5], flip: false },
    { imgShape: [size - 16, size], padShape: [size, size], oriShape: [size - 16, size], scaleFactor: [1, 1], flip: true },
  ];
  return { targets, metas };
}
