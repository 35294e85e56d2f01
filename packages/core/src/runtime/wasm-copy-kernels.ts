import { tf } from '../tf.js';
import type { WasmHeap } from './wasm-internals.js';

/**
 * SplitV, Concat and Slice for tfjs-backend-wasm as strided row copies on its heap. Its own
 * kernels copy in JavaScript with one `subarray` + `set` per innermost run, i.e. per pixel for a
 * channel split of an NHWC tensor (PConv splits 8 to 64 channels per pixel: millions of tiny
 * copies per step), and its Slice first copies the whole input out of the heap (`readSync`) for
 * every slice. Here each kernel is one or a few `copyRows` calls: rows of a fixed byte length at a
 * fixed stride, into a contiguous output. Strings are left to the stock kernels (the caller
 * passes them on).
 */
export type CopyRows = (heap: WasmHeap, src: number, srcStride: number, dst: number, dstStride: number, rowBytes: number, rows: number) => void;

/**
 * copyRows over a grid: for o < outers and i < mids, `rows` rows of `rowBytes` bytes from
 * src + o srcStrides[0] + i srcStrides[1] + r srcStrides[2], to the same place in dst's strides.
 */
export type CopyGrid = (heap: WasmHeap, src: number, srcStrides: readonly [number, number, number], dst: number, dstStrides: readonly [number, number, number], rowBytes: number, counts: readonly [number, number, number]) => void;

const BYTES: Partial<Record<tf.DataType, number>> = { float32: 4, int32: 4, bool: 1 };

/** Bytes per element when these kernels handle the dtype, else undefined (strings). */
export function bytesPerElement(dtype: tf.DataType): number | undefined {
  return BYTES[dtype];
}

const size = (shape: readonly number[], from = 0, to = shape.length): number => {
  let n = 1;
  for (let i = from; i < to; i++) n *= shape[i]!;
  return n;
};

/** The fallback copy when the SIMD module is unavailable: word loops for short rows, copyWithin for long ones. */
export function copyRowsJs(buffer: ArrayBuffer, src: number, srcStride: number, dst: number, dstStride: number, rowBytes: number, rows: number): void {
  const words = ((src | srcStride | dst | dstStride | rowBytes) & 3) === 0;
  const unit = words ? 4 : 1;
  const h = words ? new Int32Array(buffer) : new Uint8Array(buffer);
  const n = rowBytes / unit;
  const [ss, ds] = [srcStride / unit, dstStride / unit];
  let [s, d] = [src / unit, dst / unit];
  for (let r = 0; r < rows; r++, s += ss, d += ds) {
    if (n >= 64) h.copyWithin(d, s, s + n);
    else for (let i = 0; i < n; i++) h[d + i] = h[s + i]!;
  }
}

export function splitV(heap: WasmHeap, copy: CopyRows, x: tf.TensorInfo, numOrSizeSplits: number | number[], axis: number | number[]): tf.TensorInfo[] {
  const bytes = bytesPerElement(x.dtype)!;
  const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
  const sizes = tf.backend_util.prepareSplitSize(x, numOrSizeSplits, ax);
  const outer = size(x.shape, 0, ax);
  const inner = size(x.shape, ax + 1) * bytes;
  const src = heap.offset(x);
  let begin = 0;
  return sizes.map((s) => {
    const shape = x.shape.slice();
    shape[ax] = s;
    const out = heap.makeOutput(shape, x.dtype);
    if (s * inner * outer > 0) copy(heap, src + begin * inner, x.shape[ax]! * inner, heap.offset(out), s * inner, s * inner, outer);
    begin += s;
    return out;
  });
}

export function concat(heap: WasmHeap, copy: CopyRows, inputs: tf.TensorInfo[], axis: number | number[]): tf.TensorInfo {
  const bytes = bytesPerElement(inputs[0]!.dtype)!;
  const ax = tf.util.parseAxisParam(axis, inputs[0]!.shape)[0]!;
  const shapes = inputs.map((t) => t.shape);
  tf.backend_util.assertParamsConsistent(shapes, ax);
  const outShape = tf.backend_util.computeOutShape(shapes, ax);
  const parts = inputs.filter((t) => size(t.shape) > 0);
  if (parts.length === 1) return { ...heap.share(parts[0]!), shape: outShape };
  const out = heap.makeOutput(outShape, inputs[0]!.dtype);
  if (size(outShape) === 0) return out;
  const outer = size(outShape, 0, ax);
  const outRow = size(outShape, ax) * bytes;
  const dst = heap.offset(out);
  let column = 0;
  for (const t of parts) {
    const row = size(t.shape, ax) * bytes;
    copy(heap, heap.offset(t), row, dst + column, outRow, row, outer);
    column += row;
  }
  return out;
}

/**
 * The slice as row copies: the innermost partial axis j gives rows of size[j] x (elements after j);
 * the full axes just before j fold into one strided call; the two partial axes further out become
 * the grid's mid and outer levels (one call for an NHWC interior, [2, 66, 66, 256] to 64 x 64,
 * where one call per row took ~0.8 ms), and any further out are walked here.
 */
export function slice(heap: WasmHeap, grid: CopyGrid, x: tf.TensorInfo, begin: number | number[], sizeAttr: number | number[]): tf.TensorInfo {
  const bytes = bytesPerElement(x.dtype)!;
  const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, sizeAttr);
  const shape = x.shape;
  let j = shape.length - 1;
  while (j >= 0 && s[j] === shape[j]) j--;
  if (j < 0) return heap.share(x);
  const out = heap.makeOutput(s, x.dtype);
  if (size(s) === 0) return out;
  const inner = size(shape, j + 1) * bytes;
  const rowBytes = s[j]! * inner;
  const srcStride = shape[j]! * inner;
  let m = j;
  while (m > 0 && s[m - 1] === shape[m - 1]) m--;
  const rows = size(shape, m, j);
  const strides = tf.util.computeStrides(shape).map((v) => v * bytes);
  // axes m-1 and m-2 (where they exist) are the grid's mids and outers
  const [midAxis, outerAxis] = [m - 1, m - 2];
  const mids = midAxis >= 0 ? s[midAxis]! : 1;
  const outers = outerAxis >= 0 ? s[outerAxis]! : 1;
  const block = rows * rowBytes;
  const walked = Math.max(0, m - 2);
  let xBase = heap.offset(x) + b[j]! * inner;
  for (let a = walked; a < m; a++) xBase += b[a]! * strides[a]!;
  const srcStrides = [outerAxis >= 0 ? strides[outerAxis]! : 0, midAxis >= 0 ? strides[midAxis]! : 0, srcStride] as const;
  const dstStrides = [mids * block, block, rowBytes] as const;
  let dst = heap.offset(out);
  // Odometer over the partial axes outside the grid, 0..m-3.
  const index = new Array<number>(walked).fill(0);
  const count = size(s, 0, walked);
  for (let n = 0; n < count; n++) {
    let src = xBase;
    for (let a = 0; a < walked; a++) src += (b[a]! + index[a]!) * strides[a]!;
    grid(heap, src, srcStrides, dst, dstStrides, rowBytes, [outers, mids, rows]);
    dst += outers * mids * block;
    for (let a = walked - 1; a >= 0; a--) {
      if (++index[a]! < s[a]!) break;
      index[a] = 0;
    }
  }
  return out;
}

/**
 * PadV2 of an NHWC map on H and W only (a convolution's padding): the border filled with the
 * constant, the map copied into the interior as one grid of rows (on the kernel pool when large).
 * Undefined for other paddings (left to the stock kernel).
 */
export function padSpatial(heap: WasmHeap, grid: CopyGrid, x: tf.TensorInfo, paddings: [number, number][], value: number): tf.TensorInfo | undefined {
  if (x.shape.length !== 4 || x.dtype !== 'float32' || paddings.length !== 4) return undefined;
  const [[n0, n1], [top, bottom], [left, right], [c0, c1]] = paddings as [[number, number], [number, number], [number, number], [number, number]];
  if (n0 || n1 || c0 || c1 || [top, bottom, left, right].some((p) => p < 0 || !Number.isInteger(p))) return undefined;
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const [hp, wp] = [h + top + bottom, w + left + right];
  const out = heap.makeOutput([n, hp, wp, c], 'float32');
  if (n * hp * wp * c === 0) return out;
  const f32 = new Float32Array(heap.buffer(), heap.offset(out), n * hp * wp * c);
  const rowFloats = wp * c;
  for (let b = 0; b < n; b++) {
    const image = b * hp * rowFloats;
    f32.fill(value, image, image + top * rowFloats);
    f32.fill(value, image + (top + h) * rowFloats, image + hp * rowFloats);
    if (left || right) {
      for (let y = top; y < top + h; y++) {
        const row = image + y * rowFloats;
        f32.fill(value, row, row + left * c);
        f32.fill(value, row + (left + w) * c, row + rowFloats);
      }
    }
  }
  if (h * w * c > 0) {
    const dst = heap.offset(out) + 4 * (top * rowFloats + left * c);
    grid(heap, heap.offset(x), [h * w * c * 4, w * c * 4, 0], dst, [hp * rowFloats * 4, rowFloats * 4, 0], w * c * 4, [n, h, 1]);
  }
  return out;
}

/**
 * GatherV2 without batch dims: one row copy per (outer position, index), the indices read in
 * place on the heap. tfjs-backend-wasm's own kernel copies element by element (~24 ns per float:
 * RoIAlign's gather of 1.6M feature rows of 256 channels took ~9 s of a Mask R-CNN inference).
 * Indices outside [0, dim) are an error, as on tfjs's cpu backend.
 */
export function gather(heap: WasmHeap, x: tf.TensorInfo, indices: tf.TensorInfo, axis: number): tf.TensorInfo {
  const bytes = bytesPerElement(x.dtype)!;
  const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
  const outer = size(x.shape, 0, ax);
  const dim = x.shape[ax]!;
  const innerBytes = size(x.shape, ax + 1) * bytes;
  const n = size(indices.shape);
  const outShape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
  const out = heap.makeOutput(outShape, x.dtype);
  if (size(outShape) === 0) return out;
  // views after makeOutput: an allocation can grow (and so detach) the heap
  const buffer = heap.buffer();
  const idx = new Int32Array(buffer, heap.offset(indices), n);
  for (let i = 0; i < n; i++) {
    const v = idx[i]!;
    if (!(v >= 0 && v < dim)) throw new Error(`GatherV2: index ${v} at position ${i} is outside [0, ${dim - 1}] (axis ${ax} of shape [${x.shape.join(', ')}])`);
  }
  const words = (innerBytes & 3) === 0;
  const unit = words ? 4 : 1;
  const h = words ? new Int32Array(buffer) : new Uint8Array(buffer);
  const row = innerBytes / unit;
  const src = heap.offset(x) / unit;
  let d = heap.offset(out) / unit;
  for (let o = 0; o < outer; o++) {
    const base = src + o * dim * row;
    for (let i = 0; i < n; i++, d += row) {
      const s = base + idx[i]! * row;
      if (row >= 32) h.copyWithin(d, s, s + row);
      else for (let k = 0; k < row; k++) h[d + k] = h[s + k]!;
    }
  }
  return out;
}

/**
 * Transpose whose permutation swaps two adjacent axes a and a + 1 and keeps the others in place,
 * with at least one axis after them: for each index of the axes before a and each of axis a's, one
 * `copyRows` of axis a+1's blocks (the trailing axes, contiguous) into their strided places, all
 * in one CopyGrid call. The
 * space-to-depth of a kernel == stride convolution's patches ([N, H/k, k, W/k, k C] -> [N, H/k,
 * W/k, k, k C]) and its inverse are this: tfjs's Transpose walks them element by element (~8 ms
 * for a 16 x 224 x 224 x 3 batch). Undefined: left to the stock kernel.
 */
export function swapAdjacentAxes(heap: WasmHeap, copy: CopyGrid, x: tf.TensorInfo, perm: number[]): tf.TensorInfo | undefined {
  const r = x.shape.length;
  const bytes = bytesPerElement(x.dtype);
  if (bytes === undefined || perm.length !== r) return undefined;
  const a = perm.findIndex((p, i) => p !== i);
  if (a < 0 || a + 2 >= r || perm[a] !== a + 1 || perm[a + 1] !== a || perm.some((p, i) => i > a + 1 && p !== i)) return undefined;
  const shape = x.shape;
  const out = heap.makeOutput(perm.map((p) => shape[p]!), x.dtype);
  const [outer, p, q, inner] = [size(shape, 0, a), shape[a]!, shape[a + 1]!, size(shape, a + 2) * bytes];
  if (outer * p * q * inner === 0) return out;
  // (o, i, j) from ((o p + i) q + j) inner to ((o q + j) p + i) inner
  copy(heap, heap.offset(x), [p * q * inner, q * inner, inner], heap.offset(out), [q * p * inner, inner, p * inner], inner, [outer, p, q]);
  return out;
}
