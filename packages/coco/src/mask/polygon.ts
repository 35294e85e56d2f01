import type { Rle } from './rle.js';

const SCALE = 5;

// scratch buffers reused across calls: allocation dominated the cost for typical polygons
let bufX = new Int32Array(64);
let bufY = new Int32Array(64);
let bufU = new Int32Array(1024);
let bufV = new Int32Array(1024);
let bufA = new Uint32Array(1024);
let bufB = new Uint32Array(1024);

/** C's (int) cast of a double: truncation toward zero (NaN becomes 0 here, harmlessly, see below). */
function cInt(x: number): number {
  return x < 0 ? Math.ceil(x) : Math.floor(x);
}

/**
 * Rasterizes one polygon [x0, y0, x1, y1, ...] exactly as maskApi.c's rleFrPoly: the outline is
 * upsampled by 5, traced with integer steps, and only crossings of pixel-centre columns are kept.
 * A repeated vertex makes the C code divide 0 by 0; the resulting point always sits between two
 * points of the same column and is dropped, so its value does not matter.
 */
export function rleFrPoly(xy: ArrayLike<number>, k: number, h: number, w: number): Rle {
  if (bufX.length < k + 1) {
    bufX = new Int32Array((k + 1) * 2);
    bufY = new Int32Array((k + 1) * 2);
  }
  const x = bufX;
  const y = bufY;
  for (let j = 0; j < k; j++) x[j] = cInt(SCALE * xy[j * 2]! + 0.5);
  x[k] = x[0]!;
  for (let j = 0; j < k; j++) y[j] = cInt(SCALE * xy[j * 2 + 1]! + 0.5);
  y[k] = y[0]!;
  let m = 0;
  for (let j = 0; j < k; j++) m += Math.max(Math.abs(x[j]! - x[j + 1]!), Math.abs(y[j]! - y[j + 1]!)) + 1;
  if (bufU.length < m + 1) {
    bufU = new Int32Array((m + 1) * 2);
    bufV = new Int32Array((m + 1) * 2);
    bufA = new Uint32Array((m + 1) * 2);
    bufB = new Uint32Array((m + 1) * 2);
  }
  const u = bufU;
  const v = bufV;
  m = 0;
  for (let j = 0; j < k; j++) {
    let xs = x[j]!;
    let xe = x[j + 1]!;
    let ys = y[j]!;
    let ye = y[j + 1]!;
    const dx = Math.abs(xe - xs);
    const dy = Math.abs(ys - ye);
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      let t = xs;
      xs = xe;
      xe = t;
      t = ys;
      ys = ye;
      ye = t;
    }
    const s = dx >= dy ? (ye - ys) / dx : (xe - xs) / dy;
    if (dx >= dy) {
      for (let d = 0; d <= dx; d++) {
        const t = flip ? dx - d : d;
        u[m] = t + xs;
        v[m] = cInt(ys + s * t + 0.5);
        m++;
      }
    } else {
      for (let d = 0; d <= dy; d++) {
        const t = flip ? dy - d : d;
        v[m] = t + ys;
        u[m] = cInt(xs + s * t + 0.5);
        m++;
      }
    }
  }
  // keep one point per crossing of a column of pixel centres, then downsample
  const kk = m;
  // run boundaries are the sorted column-major positions of the crossings
  const a = bufA;
  m = 0;
  for (let j = 1; j < kk; j++) {
    if (u[j] === u[j - 1]) continue;
    let xd = u[j]! < u[j - 1]! ? u[j]! : u[j]! - 1;
    xd = (xd + 0.5) / SCALE - 0.5;
    if (Math.floor(xd) !== xd || xd < 0 || xd > w - 1) continue;
    let yd = v[j]! < v[j - 1]! ? v[j]! : v[j - 1]!;
    yd = (yd + 0.5) / SCALE - 0.5;
    if (yd < 0) yd = 0;
    else if (yd > h) yd = h;
    yd = Math.ceil(yd);
    a[m++] = (xd * h + yd) >>> 0;
  }
  const n = m + 1;
  a[m] = (h * w) >>> 0;
  a.subarray(0, n).sort();
  let p = 0;
  for (let j = 0; j < n; j++) {
    const t = a[j]!;
    a[j] = t - p;
    p = t;
  }
  const b = bufB;
  let j = 0;
  m = 0;
  b[m++] = a[j++]!;
  while (j < n) {
    if (a[j]! > 0) b[m++] = a[j++]!;
    else {
      j++;
      if (j < n) b[m - 1] += a[j++]!;
    }
  }
  return { h, w, cnts: b.slice(0, m) };
}

/** A box [x, y, w, h] rasterized as the 4-point polygon rleFrBbox builds. */
export function rleFrBbox(bb: ArrayLike<number>, h: number, w: number, o = 0): Rle {
  const xs = bb[o]!;
  const xe = xs + bb[o + 2]!;
  const ys = bb[o + 1]!;
  const ye = ys + bb[o + 3]!;
  return rleFrPoly([xs, ys, xs, ye, xe, ye, xe, ys], 4, h, w);
}
