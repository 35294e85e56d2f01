/**
 * Pixel kernels on plain typed arrays. The hot one, `renderInto`, does bilinear resize, horizontal
 * flip and normalization in one pass from the decoded uint8 image straight into a (reused) float32
 * batch buffer: normalization is affine per channel, so it commutes with linear interpolation and
 * is applied to the source samples through a 256-entry table per channel.
 * Sampling follows OpenCV's INTER_LINEAR (half-pixel centres, edge clamped).
 */
import type { LabelMap, RgbImage } from './types.js';

interface AxisTable {
  i0: Int32Array;
  i1: Int32Array;
  w: Float32Array;
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
let rowA = new Float32Array(0);
let rowB = new Float32Array(0);
const tableCache = new Map<string, AxisTable>();

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

/**
 * Writes `src` resized to dstW x dstH (bilinear), optionally mirrored left-right, mapped through
 * `lut` (see normalizeTable), into `out` starting at element `offset` with `rowStride` elements per
 * output row (>= dstW * 3). Only the dstW * 3 leading elements of each row are written.
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
  if (rowA.length < n) {
    rowA = new Float32Array(n);
    rowB = new Float32Array(n);
  }
  const tx = cachedTable(sw, dstW);
  const ty = cachedTable(sh, dstH);
  const xi0 = tx.i0;
  const xi1 = tx.i1;
  const xw = tx.w;
  let A = rowA;
  let B = rowB;
  let rowOfA = -1;
  let rowOfB = -1;
  const hrow = (y: number, dst: Float32Array) => {
    const base = y * sw * 3;
    for (let x = 0; x < dstW; x++) {
      const a = base + xi0[x]! * 3;
      const b = base + xi1[x]! * 3;
      const w = xw[x]!;
      const o = (flip ? dstW - 1 - x : x) * 3;
      const a0 = lut[s[a]!]!;
      const a1 = lut[256 + s[a + 1]!]!;
      const a2 = lut[512 + s[a + 2]!]!;
      dst[o] = a0 + (lut[s[b]!]! - a0) * w;
      dst[o + 1] = a1 + (lut[256 + s[b + 1]!]! - a1) * w;
      dst[o + 2] = a2 + (lut[512 + s[b + 2]!]! - a2) * w;
    }
  };
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
        hrow(i0, A);
        rowOfA = i0;
      }
    }
    let o = offset + y * rowStride;
    if (w === 0 || i1 === i0) {
      out.set(n === A.length ? A : A.subarray(0, n), o);
      continue;
    }
    if (rowOfB !== i1) {
      hrow(i1, B);
      rowOfB = i1;
    }
    for (let k = 0; k < n; k++, o++) {
      const a = A[k]!;
      out[o] = a + (B[k]! - a) * w;
    }
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
