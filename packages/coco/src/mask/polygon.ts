import type { Rle } from './rle.js';

const SCALE = 5;

// scratch buffers reused across calls: allocation dominated the cost for typical polygons
let bufX = new Int32Array(64);
let bufY = new Int32Array(64);
let bufA = new Uint32Array(1024);
let bufB = new Uint32Array(1024);

/**
 * The pair of traced points (pu, pv) then (u, v), u !== pu: when it crosses a column of pixel
 * centres inside the image, appends the run boundary there to a (its column to cols); returns
 * the new count.
 * (xd + 0.5) / 5 - 0.5, the C code's pixel column, is a whole number exactly when xd is 2
 * modulo 5, and is then that number exactly, so the test is made on integers.
 */
function crossing(a: Uint32Array, n: number, u: number, v: number, pu: number, pv: number, h: number, w: number): number {
  const xd = u < pu ? u : u - 1;
  const r = xd % SCALE;
  if (r !== 2 && r !== -3) return n;
  const col = (xd - 2) / SCALE;
  if (col < 0 || col > w - 1) return n;
  const yd = v < pv ? v : pv;
  let yc = (yd + 0.5) / SCALE - 0.5;
  if (yc < 0) yc = 0;
  else if (yc > h) yc = h;
  a[n] = (col * h + Math.ceil(yc)) >>> 0;
  cols[n] = col;
  return n + 1;
}

/**
 * crossing() for a pair known to cross pixel-centre column col with yd the smaller of its two v,
 * for a whole-number h: ceil(clamp((yd + 0.5) / 5 - 0.5, 0, h)) is then ceil((yd - 2) / 5) within
 * [0, h], an integer division.
 */
function crossingAt(a: Uint32Array, n: number, col: number, yd: number, h: number, w: number): number {
  if (col < 0 || col > w - 1) return n;
  const row = yd <= 1 ? 0 : yd > SCALE * h + 2 ? h : ((yd + 2) / SCALE) | 0;
  a[n] = (col * h + row) >>> 0;
  cols[n] = col;
  return n + 1;
}

let bufS = new Uint32Array(1024);
let bufC = new Int32Array(1024);
/** The pixel column of each crossing in bufA (crossing writes it). */
let cols = new Int32Array(1024);

/**
 * Sorts the n crossings in a ascending. Their values are column-major positions col * h + row
 * with 0 <= row <= h below 2^32, so a counting sort on the column and an insertion sort inside
 * each column (a polygon crosses a column a few times) sort them.
 */
function sortPositions(a: Uint32Array, n: number): void {
  if (n < 16) {
    a.subarray(0, n).sort();
    return;
  }
  let cMin = cols[0]!;
  let cMax = cMin;
  for (let i = 1; i < n; i++) {
    const c = cols[i]!;
    if (c < cMin) cMin = c;
    if (c > cMax) cMax = c;
  }
  const span = cMax - cMin + 1;
  if (span > 4 * n) {
    a.subarray(0, n).sort();
    return;
  }
  if (bufC.length < span + 1) bufC = new Int32Array((span + 1) * 2);
  if (bufS.length < n) bufS = new Uint32Array(n * 2);
  const start = bufC;
  start.fill(0, 0, span + 1);
  for (let i = 0; i < n; i++) start[cols[i]! - cMin + 1]!++;
  for (let q = 0; q < span; q++) start[q + 1]! += start[q]!;
  const out = bufS;
  for (let i = 0; i < n; i++) out[start[cols[i]! - cMin]!++] = a[i]!;
  // columns in order; within one, insertion sort (values of earlier columns are never larger)
  for (let i = 1; i < n; i++) {
    const v = out[i]!;
    let j = i - 1;
    while (j >= 0 && out[j]! > v) {
      out[j + 1] = out[j]!;
      j--;
    }
    out[j + 1] = v;
  }
  a.set(out.subarray(0, n));
}

/**
 * Rasterizes one polygon [x0, y0, x1, y1, ...] exactly as maskApi.c's rleFrPoly: the outline is
 * upsampled by 5, traced with integer steps, and only crossings of pixel-centre columns are kept.
 * The traced points are not stored: each is compared with the one before as it is made (the C
 * code fills two arrays, then scans them). Values are int32 as the C code's ints (ToInt32 of a
 * double truncates toward zero like its (int) cast; a repeated vertex makes the C code divide 0
 * by 0, and the point that gives, always between two points of one column, is dropped).
 */
export function rleFrPoly(xy: ArrayLike<number>, k: number, h: number, w: number): Rle {
  if (bufX.length < k + 1) {
    bufX = new Int32Array((k + 1) * 2);
    bufY = new Int32Array((k + 1) * 2);
  }
  const x = bufX;
  const y = bufY;
  for (let j = 0; j < k; j++) x[j] = SCALE * xy[j * 2]! + 0.5;
  x[k] = x[0]!;
  for (let j = 0; j < k; j++) y[j] = SCALE * xy[j * 2 + 1]! + 0.5;
  y[k] = y[0]!;
  // at most one crossing per traced point
  let m = 0;
  for (let j = 0; j < k; j++) m += Math.max(Math.abs(x[j]! - x[j + 1]!), Math.abs(y[j]! - y[j + 1]!)) + 1;
  if (bufA.length < m + 1) {
    bufA = new Uint32Array((m + 1) * 2);
    bufB = new Uint32Array((m + 1) * 2);
    cols = new Int32Array((m + 1) * 2);
  }
  // run boundaries are the column-major positions of the crossings, sorted below
  const a = bufA;
  // positions below 2^32 in whole rows: the integer shortcuts apply
  const wholeH = Number.isInteger(h) && Number.isInteger(w) && h >= 0 && w >= 0 && h * w < 4294967296;
  let n = 0;
  // the point traced last (first: none yet)
  let pu = 0;
  let pv = 0;
  let first = true;
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
    if (dx >= dy) {
      const s = (ye - ys) / dx;
      // point d is t = flip ? dx - d : d, at u = t + xs, v = (int)(ys + s * t + 0.5)
      const t0 = flip ? dx : 0;
      const u0 = (t0 + xs) | 0;
      const v0 = (ys + s * t0 + 0.5) | 0;
      if (first) first = false;
      else if (u0 !== pu) n = crossing(a, n, u0, v0, pu, pv, h, w);
      if (dx > 0 && wholeH && Math.abs(xs) + dx < 0x7ffffff0) {
        // u moves by one column of the upsampled grid per point, so only every fifth pair of
        // points can cross a pixel centre: visit those only
        const step = flip ? -1 : 1;
        // the pair (d - 1, d) has its lower u at xd = u(d - 1) going up, u(d) going down
        let d = 1;
        const r = ((((flip ? u0 - 1 : u0) - 2) % SCALE) + SCALE) % SCALE;
        d += flip ? r : (SCALE - r) % SCALE;
        // xd = 5 col + 2 at the first such pair, then one column further each time
        let col = ((flip ? u0 - d : u0 + d - 1) - 2) / SCALE;
        for (; d <= dx; d += SCALE) {
          const tc = t0 + step * d;
          const vc = (ys + s * tc + 0.5) | 0;
          const vp = (ys + s * (tc - step) + 0.5) | 0;
          n = crossingAt(a, n, col, vc < vp ? vc : vp, h, w);
          col += step;
        }
        pu = (t0 + step * dx + xs) | 0;
        pv = (ys + s * (t0 + step * dx) + 0.5) | 0;
      } else {
        pu = u0;
        pv = v0;
        for (let d = 1; d <= dx; d++) {
          const t = flip ? dx - d : d;
          const u = (t + xs) | 0;
          const v = (ys + s * t + 0.5) | 0;
          if (u !== pu) n = crossing(a, n, u, v, pu, pv, h, w);
          pu = u;
          pv = v;
        }
      }
    } else {
      const s = (xe - xs) / dy;
      // point d is t = flip ? dy - d : d, at v = t + ys, u = (int)(xs + s * t + 0.5)
      const tF = flip ? dy : 0;
      const tL = flip ? 0 : dy;
      const uF = (xs + s * tF + 0.5) | 0;
      const vF = (tF + ys) | 0;
      if (first) first = false;
      else if (uF !== pu) n = crossing(a, n, uF, vF, pu, pv, h, w);
      const uL = (xs + s * tL + 0.5) | 0;
      if (wholeH && Math.abs(xs) + dx < 0x7ffffff0 && Math.abs(ys) + dy < 0x7ffffff0) {
        // u is monotone in t and moves by at most one per point, so a pair of points crosses a
        // pixel centre only where u passes between 5c + 2 and 5c + 3: find those places
        const u0 = (xs + 0.5) | 0;
        const u1 = (xs + s * dy + 0.5) | 0;
        const up = u1 >= u0;
        const lo = up ? u0 : u1;
        const hi = up ? u1 : u0;
        // first c with 5c + 2 >= max(lo, 2), last with 5c + 3 <= hi and c <= w - 1
        let c = Math.max(0, Math.ceil((lo - 2) / SCALE));
        const cEnd = Math.min(Math.floor((hi - 3) / SCALE), Math.ceil(w) - 1);
        const inv = 1 / s;
        for (; c <= cEnd; c++) {
          const b = SCALE * c + 2;
          // t with u(t) and u(t + 1) on either side of b + 0.5; estimate, then step to it
          let t = Math.round((b + 0.5 - xs) * inv);
          if (!(t >= 0)) t = 0;
          if (t > dy - 1) t = dy - 1;
          if (up) {
            while (t > 0 && ((xs + s * t + 0.5) | 0) > b) t--;
            while (((xs + s * (t + 1) + 0.5) | 0) <= b) t++;
          } else {
            while (t > 0 && ((xs + s * t + 0.5) | 0) <= b) t--;
            while (((xs + s * (t + 1) + 0.5) | 0) > b) t++;
          }
          // the pair (t, t + 1): u = b and b + 1, v = t + ys and t + 1 + ys
          n = crossingAt(a, n, c, t + ys, h, w);
        }
      } else {
        pu = uF;
        pv = vF;
        for (let d = 1; d <= dy; d++) {
          const t = flip ? dy - d : d;
          const v = (t + ys) | 0;
          const u = (xs + s * t + 0.5) | 0;
          if (u !== pu) n = crossing(a, n, u, v, pu, pv, h, w);
          pu = u;
          pv = v;
        }
      }
      pu = uL;
      pv = (tL + ys) | 0;
    }
  }
  m = n + 1;
  a[n] = (h * w) >>> 0;
  // with whole rows, h * w (which closes the last run) is no smaller than any crossing
  if (wholeH) sortPositions(a, n);
  else a.subarray(0, m).sort();
  let p = 0;
  for (let j = 0; j < m; j++) {
    const t = a[j]!;
    a[j] = t - p;
    p = t;
  }
  const b = bufB;
  let j = 0;
  n = 0;
  b[n++] = a[j++]!;
  while (j < m) {
    if (a[j]! > 0) b[n++] = a[j++]!;
    else {
      j++;
      if (j < m) b[n - 1] += a[j++]!;
    }
  }
  return { h, w, cnts: b.slice(0, n) };
}

/** A box [x, y, w, h] rasterized as the 4-point polygon rleFrBbox builds. */
export function rleFrBbox(bb: ArrayLike<number>, h: number, w: number, o = 0): Rle {
  const xs = bb[o]!;
  const xe = xs + bb[o + 2]!;
  const ys = bb[o + 1]!;
  const ye = ys + bb[o + 3]!;
  return rleFrPoly([xs, ys, xs, ye, xe, ye, xe, ys], 4, h, w);
}
