import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSample, type Sample } from '../src/internals.js';
import { type InstanceMask, type RgbImage } from '../src/index.js';

export async function tempDir(prefix = 'pn-data-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A deterministic, non-symmetric test image. */
export function testImage(w: number, h: number, seed = 1): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      data[o] = (x * 255) / Math.max(1, w - 1);
      data[o + 1] = (y * 255) / Math.max(1, h - 1);
      data[o + 2] = ((x * 7 + y * 13 + seed * 31) % 97) * 2;
    }
  }
  return { data, width: w, height: h };
}

/** A rectangle bitmap mask. */
export function rectMask(w: number, h: number, x1: number, y1: number, x2: number, y2: number): InstanceMask {
  const data = new Uint8Array(w * h);
  for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) data[y * w + x] = 1;
  return { kind: 'bitmap', data, width: w, height: h };
}

/** A sample with two boxes, a polygon mask, a bitmap mask and a semantic map. */
export function richSample(w = 64, h = 48): Sample {
  const image = testImage(w, h);
  const sem = new Uint8Array(w * h);
  for (let y = 10; y < 30; y++) for (let x = 5; x < 25; x++) sem[y * w + x] = 3;
  return makeSample(
    { index: 0, imageId: 7, file: 'mem.png' },
    image,
    {
      boxes: Float32Array.from([5, 10, 25, 30, 30, 4, 60, 40]),
      labels: Int32Array.from([2, 0]),
      ignoreBoxes: Float32Array.from([1, 1, 10, 8]),
      masks: [
        { kind: 'polygons', polygons: [[5, 10, 25, 10, 25, 30, 5, 30]] },
        rectMask(w, h, 30, 4, 60, 40),
      ],
      semantic: { data: sem, width: w, height: h },
    },
  );
}

export function cloneSample(s: Sample): Sample {
  return structuredClone(s);
}

export function iou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && b[i]) inter++;
    if (a[i] || b[i]) union++;
  }
  return union === 0 ? 1 : inter / union;
}
