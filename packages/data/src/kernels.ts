/**
 * Pixel kernels on plain typed arrays. The hot one, `renderInto`, does bilinear resize, horizontal
 * flip and normalization in one pass from the decoded uint8 image straight into a (reused) float32
 * batch buffer: normalization is affine per channel, so it commutes with linear interpolation and
 * is applied to the source samples through a 256-entry table per channel.
 * Sampling follows OpenCV's INTER_LINEAR (half-pixel centres, edge clamped).
 */
import { renderWasm } from './render-wasm.js';
import type { LabelMap, RgbImage } from './types.js';

interface AxisTable {
  i0: Int32Array;
  i1: Int32Array;
  w: Float32Array;
}

/** Horizontal sampling for one (src, dst, flip): element offsets of both taps per output element. */
interface RowTable {
  /** Per output pixel (in output order): source element offset (x * 3) of the left and right tap. */
  a: Int32Array;
  b: Int32Array;
  w: Float32Array;
  /** a and b as byte offsets into a float32 row (for the WebAssembly loop). */
  a4: Int32Array;
  b4: Int32Array;
}

function axisTable(src: number, dst: number): AxisTable {
  const i0 = new Int32Array(dst);
  const i1 = new Int32Array(dst);
  const w = new Float32Array(dst);
  const scale = src / dst;
  for (let x = 0; x < dst; x++) {
    let f = (x + 0.5) * scale - 0.5;
    if (f < 0) f = 0;
    let i = Math.floor(f);
    if (i >= src - 1) {
      i = src - 1;
      f = i;
    }
    i0[x] = i;
    i1[x] = Math.min(i + 1, src - 1);
    w[x] = f - i;
  }
  return { i0, i1, w };
}

// Scratch rows reused between calls (one thread each: module state is per worker).
let rowA: Float32Array = new Float32Array(0);
let rowB: Float32Array = new Float32Array(0);
let rowL = new Float32Array(0);
const tableCache = new Map<string, AxisTable>();
let scalarOnly = false;
const rowTableCache = new Map<string, RowTable>();

function cachedTable(src: number, dst: number): AxisTable {
  const key = `${src}:${dst}`;
  let t = tableCache.get(key);
  if (!t) {
    if (tableCache.size > 64) tableCache.clear();
    t = axisTable(src, dst);
    tableCache.set(key, t);
  }
  return t;
}

function cachedRowTable(src: number, dst: number, flip: boolean): RowTable {
  const key = `${src}:${dst}:${flip ? 1 : 0}`;
  let t = rowTableCache.get(key);
  if (!t) {
    if (rowTableCache.size > 64) rowTableCache.clear();
    const ax = cachedTable(src, dst);
    const a = new Int32Array(dst);
    const b = new Int32Array(dst);
    const w = new Float32Array(dst);
    for (let x = 0; x < dst; x++) {
      const o = flip ? dst - 1 - x : x;
      a[o] = ax.i0[x]! * 3;
      b[o] = ax.i1[x]! * 3;
      w[o] = ax.w[x]!;
    }
    t = { a, b, w, a4: a.map((v) => v * 4), b4: b.map((v) => v * 4) };
    rowTableCache.set(key, t);
  }
  return t;
}

/** Per-channel lookup table uint8 -> (v - mean) / std, laid out [c * 256 + v]. */
export function normalizeTable(mean?: readonly number[], std?: readonly number[]): Float32Array {
  const lut = new Float32Array(768);
  for (let c = 0; c < 3; c++) {
    const m = mean ? mean[c]! : 0;
    const s = std ? std[c]! : 1;
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v - m) / s;
  }
  return lut;
}

/** Maps one source row through the per-channel table into `L` (float32, sw * 3 elements). */
function lutRow(s: Uint8Array, base: number, n: number, lut: Float32Array, L: Float32Array): void {
  for (let j = 0, k = base; j < n; j += 3, k += 3) {
    L[j] = lut[s[k]!]!;
    L[j + 1] = lut[256 + s[k + 1]!]!;
    L[j + 2] = lut[512 + s[k + 2]!]!;
  }
}

/** Horizontal interpolation of a mapped source row `L` into `dst` (dstW * 3 elements). */
function hInterp(L: Float32Array, t: RowTable, dstW: number, dst: Float32Array): void {
  const ta = t.a;
  const tb = t.b;
  const tw = t.w;
  for (let x = 0, o = 0; x < dstW; x++, o += 3) {
    const a = ta[x]!;
    const b = tb[x]!;
    const w = tw[x]!;
    const a0 = L[a]!;
    const a1 = L[a + 1]!;
    const a2 = L[a + 2]!;
    dst[o] = a0 + (L[b]! - a0) * w;
    dst[o + 1] = a1 + (L[b + 1]! - a1) * w;
    dst[o + 2] = a2 + (L[b + 2]! - a2) * w;
  }
}

/** out[o + k] = A[k] + (B[k] - A[k]) * w for k < n. */
function vInterp(A: Float32Array, B: Float32Array, w: number, n: number, out: Float32Array, o: number): void {
  for (let k = 0; k < n; k++, o++) {
    const a = A[k]!;
    out[o] = a + (B[k]! - a) * w;
  }
}

/**
 * Writes `src` resized to dstW x dstH (bilinear), optionally mirrored left-right, mapped through
 * `lut` (see normalizeTable), into `out` starting at element `offset` with `rowStride` elements per
 * output row (>= dstW * 3). Only the dstW * 3 leading elements of each row are written.
 *
 * Each needed source row is mapped through the table once (float32, as the table holds it), then
 * interpolated horizontally (taps and flip precomputed per size), then vertically; the arithmetic
 * and its order per element are those of the plain formula, so results are bit-for-bit the same.
 */
export function renderInto(
  src: RgbImage,
  dstW: number,
  dstH: number,
  flip: boolean,
  lut: Float32Array,
  out: Float32Array,
  offset: number,
  rowStride: number,
): void {
  const sw = src.width;
  const sh = src.height;
  const s = src.data;
  const n = dstW * 3;
  const sn = sw * 3;
  const tx = cachedRowTable(sw, dstW, flip);
  const ty = cachedTable(sh, dstH);
  // WebAssembly memory layout (bytes): table at 0, taps and weights, one source row (bytes, then
  // mapped to float32), rows A, B and the output row.
  const wa = renderWasm();
  const up16 = (v: number) => (v + 15) & ~15;
  const TA = 4096;
  const TB = TA + up16(dstW * 4);
  const TW = TB + up16(dstW * 4);
  const SRC = TW + up16(dstW * 4);
  const rowBytes = up16(n * 4 + 8);
  const PL = SRC + up16(sn + 16);
  const PA = PL + up16(sn * 4 + 16);
  const PR = PA + 2 * rowBytes;
  if (wa && !scalarOnly && PR + rowBytes <= wa.bytes) {
    wa.f32.set(lut, 0);
    wa.i32.set(tx.a4, TA / 4);
    wa.i32.set(tx.b4, TB / 4);
    wa.f32.set(tx.w, TW / 4);
    const u8 = wa.u8;
    let pa = PA;
    let pb = PA + rowBytes;
    const R = wa.f32.subarray(PR / 4, PR / 4 + n);
    const row = (y: number, p: number) => {
      u8.set(s.subarray(y * sn, y * sn + sn), SRC);
      wa.l(SRC, sn, 0, PL);
      wa.h(PL, TA, TB, TW, dstW, p);
    };
    let rowOfA = -1;
    let rowOfB = -1;
    for (let y = 0; y < dstH; y++) {
      const i0 = ty.i0[y]!;
      const i1 = ty.i1[y]!;
      const w = ty.w[y]!;
      if (rowOfA !== i0) {
        if (rowOfB === i0) {
          const t = pa;
          pa = pb;
          pb = t;
          rowOfA = i0;
          rowOfB = -1;
        } else {
          row(i0, pa);
          rowOfA = i0;
        }
      }
      const o = offset + y * rowStride;
      if (w === 0 || i1 === i0) {
        out.set(wa.f32.subarray(pa / 4, pa / 4 + n), o);
        continue;
      }
      if (rowOfB !== i1) {
        row(i1, pb);
        rowOfB = i1;
      }
      wa.v(pa, pb, PR, n, w);
      out.set(R, o);
    }
    return;
  }
  // Scalar JavaScript: the same arithmetic, used where WebAssembly SIMD is unavailable or the rows
  // do not fit its memory.
  if (rowL.length < sn) rowL = new Float32Array(sn);
  const L = rowL;
  if (rowA.length < n) {
    rowA = new Float32Array(n);
    rowB = new Float32Array(n);
  }
  let A = rowA;
  let B = rowB;
  let rowOfA = -1;
  let rowOfB = -1;
  for (let y = 0; y < dstH; y++) {
    const i0 = ty.i0[y]!;
    const i1 = ty.i1[y]!;
    const w = ty.w[y]!;
    if (rowOfA !== i0) {
      if (rowOfB === i0) {
        const t = A;
        A = B;
        B = t;
        rowOfA = i0;
        rowOfB = -1;
      } else {
        lutRow(s, i0 * sn, sn, lut, L);
        hInterp(L, tx, dstW, A);
        rowOfA = i0;
      }
    }
    const o = offset + y * rowStride;
    if (w === 0 || i1 === i0) {
      out.set(n === A.length ? A : A.subarray(0, n), o);
      continue;
    }
    if (rowOfB !== i1) {
      lutRow(s, i1 * sn, sn, lut, L);
      hInterp(L, tx, dstW, B);
      rowOfB = i1;
    }
    vInterp(A, B, w, n, out, o);
  }
}

/** renderInto on its scalar JavaScript loops (same results; tests compare both paths). */
export function renderIntoScalar(...args: Parameters<typeof renderInto>): void {
  scalarOnly = true;
  try {
    renderInto(...args);
  } finally {
    scalarOnly = false;
  }
}

/** Bilinear resize (and optional flip) of an RGB image to a new uint8 image. */
export function resizeRgb(src: RgbImage, dstW: number, dstH: number, flip = false): RgbImage {
  const tmp = new Float32Array(dstW * dstH * 3);
  renderInto(src, dstW, dstH, flip, normalizeTable(), tmp, 0, dstW * 3);
  const data = new Uint8Array(tmp.length);
  for (let i = 0; i < tmp.length; i++) data[i] = Math.round(tmp[i]!);
  return { data, width: dstW, height: dstH };
}

/**
 * Nearest-neighbour resize of a one-channel map (semantic labels, bitmap masks), with optional
 * flip; sample centres as PIL does: src = floor((x + 0.5) * sw / dw).
 */
export function resizeNearest(src: Uint8Array, sw: number, sh: number, dw: number, dh: number, flip = false): Uint8Array {
  const out = new Uint8Array(dw * dh);
  const xs = new Int32Array(dw);
  for (let x = 0; x < dw; x++) {
    const sx = Math.min(sw - 1, Math.floor(((x + 0.5) * sw) / dw));
    xs[flip ? dw - 1 - x : x] = sx;
  }
  for (let y = 0; y < dh; y++) {
    const sy = Math.min(sh - 1, Math.floor(((y + 0.5) * sh) / dh));
    const sb = sy * sw;
    const ob = y * dw;
    for (let x = 0; x < dw; x++) out[ob + x] = src[sb + xs[x]!]!;
  }
  return out;
}

/** Mirrors a one-channel map left-right into a new array. */
export function flipMap(src: Uint8Array, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const b = y * w;
    for (let x = 0; x < w; x++) out[b + x] = src[b + w - 1 - x]!;
  }
  return out;
}

/** Resizes a label map with nearest neighbour (and optional flip). */
export function resizeLabelMap(map: LabelMap, dw: number, dh: number, flip = false): LabelMap {
  if (dw === map.width && dh === map.height && !flip) return map;
  return { data: resizeNearest(map.data, map.width, map.height, dw, dh, flip), width: dw, height: dh };
}
