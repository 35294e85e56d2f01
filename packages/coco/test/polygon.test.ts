import { describe, expect, it } from 'vitest';
import { rleFrPoly } from '../src/mask/polygon.js';
import type { Rle } from '../src/mask/rle.js';

/**
 * maskApi.c's rleFrPoly as written there (two arrays of traced points, then a scan, floating-point
 * pixel tests), kept to check the single-pass rleFrPoly against it point for point.
 */
function rleFrPolyTwoPass(xy: ArrayLike<number>, k: number, h: number, w: number): Rle {
  const cInt = (v: number) => (v < 0 ? Math.ceil(v) : Math.floor(v));
  const x = new Int32Array(k + 1);
  const y = new Int32Array(k + 1);
  for (let j = 0; j < k; j++) x[j] = cInt(5 * xy[j * 2]! + 0.5);
  x[k] = x[0]!;
  for (let j = 0; j < k; j++) y[j] = cInt(5 * xy[j * 2 + 1]! + 0.5);
  y[k] = y[0]!;
  let m = 0;
  for (let j = 0; j < k; j++) m += Math.max(Math.abs(x[j]! - x[j + 1]!), Math.abs(y[j]! - y[j + 1]!)) + 1;
  const u = new Int32Array(m + 1);
  const v = new Int32Array(m + 1);
  m = 0;
  for (let j = 0; j < k; j++) {
    let xs = x[j]!, xe = x[j + 1]!, ys = y[j]!, ye = y[j + 1]!;
    const dx = Math.abs(xe - xs);
    const dy = Math.abs(ys - ye);
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) [xs, xe, ys, ye] = [xe, xs, ye, ys];
    const s = dx >= dy ? (ye - ys) / dx : (xe - xs) / dy;
    if (dx >= dy) for (let d = 0; d <= dx; d++) { const t = flip ? dx - d : d; u[m] = t + xs; v[m] = cInt(ys + s * t + 0.5); m++; }
    else for (let d = 0; d <= dy; d++) { const t = flip ? dy - d : d; v[m] = t + ys; u[m] = cInt(xs + s * t + 0.5); m++; }
  }
  const a: number[] = [];
  for (let j = 1; j < m; j++) {
    if (u[j] === u[j - 1]) continue;
    let xd = u[j]! < u[j - 1]! ? u[j]! : u[j]! - 1;
    xd = (xd + 0.5) / 5 - 0.5;
    if (Math.floor(xd) !== xd || xd < 0 || xd > w - 1) continue;
    let yd = v[j]! < v[j - 1]! ? v[j]! : v[j - 1]!;
    yd = (yd + 0.5) / 5 - 0.5;
    if (yd < 0) yd = 0;
    else if (yd > h) yd = h;
    a.push((xd * h + Math.ceil(yd)) >>> 0);
  }
  a.push((h * w) >>> 0);
  const sorted = Uint32Array.from(a).sort();
  let p = 0;
  for (let j = 0; j < sorted.length; j++) {
    const t = sorted[j]!;
    sorted[j] = t - p;
    p = t;
  }
  const b: number[] = [sorted[0]!];
  for (let j = 1; j < sorted.length; ) {
    if (sorted[j]! > 0) b.push(sorted[j++]!);
    else {
      j++;
      if (j < sorted.length) b[b.length - 1] += sorted[j++]!;
    }
  }
  return { h, w, cnts: Uint32Array.from(b) };
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('rleFrPoly (single pass) against the two-pass transcription of maskApi.c', () => {
  it('gives the same runs for 5000 random polygons: inside, across and outside the image, fractional and whole coordinates, repeated vertices, images up to 700 x 700', () => {
    const rand = mulberry32(13);
    let differ = 0;
    let first = '';
    for (let i = 0; i < 5000; i++) {
      const kind = i % 5;
      // kind 4: COCO-sized images, long steep and shallow edges
      const h = 1 + Math.floor(rand() * (kind === 4 ? 700 : 120));
      const w = 1 + Math.floor(rand() * (kind === 4 ? 700 : 120));
      const k = 3 + Math.floor(rand() * 30);
      const xy: number[] = [];
      for (let j = 0; j < k; j++) {
        let px = -20 + rand() * (w + 40);
        let py = -20 + rand() * (h + 40);
        if (kind === 1) [px, py] = [Math.round(px), Math.round(py)];
        if (kind === 2) [px, py] = [Math.round(px * 100) / 100, Math.round(py * 100) / 100];
        if (kind === 3 && j > 0 && rand() < 0.3) [px, py] = [xy[xy.length - 2]!, xy[xy.length - 1]!];
        xy.push(px, py);
      }
      const got = Array.from(rleFrPoly(xy, k, h, w).cnts);
      const want = Array.from(rleFrPolyTwoPass(xy, k, h, w).cnts);
      if (got.join() !== want.join()) {
        differ++;
        first ||= JSON.stringify({ xy, h, w });
      }
    }
    expect(differ, first).toBe(0);
  });

  it('gives the same runs for polygons on pixel-centre columns, degenerate ones and sizes that are not whole numbers', () => {
    const cases: [number[], number, number][] = [
      [[0.5, 0.5, 5.5, 0.5, 5.5, 5.5, 0.5, 5.5], 8, 8],
      [[2, 2, 2, 2, 2, 2], 5, 5],
      [[0, 0, 10, 0, 0, 0], 6, 6],
      [[-3, -3, -1, -3, -2, -1], 4, 4],
      [[1.4, 0.1, 1.6, 9.9, 1.5, 5.0], 10, 10],
      [[0, 0, 100, 1, 0, 2], 3, 100],
      // sizes that are not whole numbers take the general path
      [[1, 1, 9, 2, 4, 10.4], 10.5, 12],
      [[1, 1, 9, 2, 4, 10.4], 12, 9.5],
    ];
    for (let c = 0; c < 10; c++) cases.push([[c + 0.5, 0, c + 0.4, 7, c + 0.6, 3.3], 8, 12]);
    for (const [xy, h, w] of cases) {
      expect(Array.from(rleFrPoly(xy, xy.length >> 1, h, w).cnts), JSON.stringify(xy)).toEqual(Array.from(rleFrPolyTwoPass(xy, xy.length >> 1, h, w).cnts));
    }
  });
});
