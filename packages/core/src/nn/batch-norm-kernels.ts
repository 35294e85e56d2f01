import { tf } from '../tf.js';
import type { Tensor, Tensor1D } from '../tf.js';
import { batchNormSimd, batchNormSimdBinary, type BatchNormSimd } from '../runtime/batch-norm-simd.js';
import { kernelPool, splitRange, type KernelPool } from '../runtime/kernel-pool.js';
import { wasmHeap, type WasmHeap } from '../runtime/wasm-internals.js';

/**
 * BatchNorm2d's training forward and backward as two tfjs-backend-wasm kernels (the SIMD passes
 * are runtime/batch-norm-simd.ts). The composite they replace is a chain of stock kernels, each a
 * full pass over the tensor on one thread (channel sums by average pooling, Sub, Square, a 1x1
 * depthwise convolution, Multiply...): on two threads a large part of a T0 training step's
 * serial time. Here the forward is three passes (sum, sum of squares about the mean, output) and
 * the backward two (sums of dy and dy xhat, dx), all split by rows over the kernel pool.
 *
 * Numerics: the same two-pass variance as the composite, with per-chunk float32 sums (at most
 * CHUNK_ROWS_MAX rows) added in float64. The first pass sums x - x[0] (x's first row as a shift),
 * so that an offset large against the spread (activations at 1000 + N(0, 1)) does not cost the
 * float32 sums their precision: mean = x[0] + sum / n in float64. The statistics come out at
 * least as accurate as the composite's (test/batch-norm-kernels.test.ts). The chunks are fixed
 * by size, each thread takes whole chunks, and their partials are added in chunk order: results
 * are the same on any number of threads.
 */
const FORWARD = 'PartialnetBatchNormTrain';
const BACKWARD = 'PartialnetBatchNormTrainGrad';

/**
 * Values per reduction chunk and its bounds in rows: 64 KiB of float32, so that the float32 sums
 * run over few rows (at most 1024) and the float64 combination over few chunks.
 */
const CHUNK_VALUES = 1 << 14;
const CHUNK_ROWS_MIN = 16;
const CHUNK_ROWS_MAX = 1024;
/** Bytes below which a pass stays on one thread: waking the pool costs ~10-30 us. */
const PARALLEL_MIN_BYTES = 1 << 19;

interface Layout {
  c: number;
  rows: number;
  rowBytes: number;
  /** Bytes of the whole 16-byte vectors of a row. */
  c4Bytes: number;
  /** 1 when C is not a multiple of 4 (a last, overlapping vector per row), else 0. */
  tail: number;
  /** Bytes of one accumulator: the whole vectors plus the tail's. */
  cpBytes: number;
  chunkRows: number;
  chunks: number;
}

function layout(shape: readonly number[]): Layout {
  const c = shape[shape.length - 1]!;
  const rows = tf.util.sizeFromShape(shape as number[]) / c;
  const c4Bytes = 16 * Math.floor(c / 4);
  const tail = c % 4 === 0 ? 0 : 1;
  const chunkRows = Math.min(CHUNK_ROWS_MAX, Math.max(CHUNK_ROWS_MIN, Math.floor(CHUNK_VALUES / c)));
  return { c, rows, rowBytes: 4 * c, c4Bytes, tail, cpBytes: c4Bytes + 16 * tail, chunkRows, chunks: Math.ceil(rows / chunkRows) };
}

/** Index in an accumulator row of channel `ch` (the last channels come from the tail vector). */
function lane(l: Layout, ch: number): number {
  return 4 * ch < l.c4Bytes ? ch : l.c4Bytes / 4 + ch - (l.c - 4);
}

function poolFor(heap: WasmHeap, l: Layout): KernelPool | undefined {
  return l.rows * l.rowBytes >= PARALLEL_MIN_BYTES ? kernelPool(heap.memory()!) : undefined;
}

/** Runs a reduction over all rows into `chunks` partial rows at `partials` (`accumulators` per chunk). */
function reduce(heap: WasmHeap, k: BatchNormSimd, name: 'sumRows' | 'squaresRows' | 'gradRows', l: Layout, x: number, dy: number, partials: number, accumulators: number, mean: number, inv: number): void {
  const partialBytes = accumulators * l.cpBytes;
  const share = (first: number, end: number): number[] => {
    const row = first * l.chunkRows;
    return [x + row * l.rowBytes, dy + row * l.rowBytes, Math.min(end * l.chunkRows, l.rows) - row, l.rowBytes, l.c4Bytes, l.tail, l.chunkRows, partials + first * partialBytes, partialBytes, l.cpBytes, mean, inv];
  };
  const pool = poolFor(heap, l);
  if (!pool) return k[name](...(share(0, l.chunks) as Parameters<BatchNormSimd['sumRows']>));
  pool.run(batchNormSimdBinary(true), name, splitRange(l.chunks, pool.threads).map(([s, e]) => share(s, e)), k[name] as (...args: number[]) => void);
}

/** Runs an elementwise pass over all rows (rows split across the pool's threads). */
function elementwise(heap: WasmHeap, k: BatchNormSimd, name: 'normalizeRows' | 'gradInputRows', l: Layout, x: number, dy: number, out: number, params: [number, number, number, number, number]): void {
  const share = (first: number, end: number): number[] => {
    const at = first * l.rowBytes;
    return [x + at, dy + at, out + at, end - first, l.rowBytes, l.c4Bytes, l.tail, ...params];
  };
  const pool = poolFor(heap, l);
  if (!pool) return k[name](...(share(0, l.rows) as Parameters<BatchNormSimd['normalizeRows']>));
  pool.run(batchNormSimdBinary(true), name, splitRange(l.rows, pool.threads).map(([s, e]) => share(s, e)), k[name] as (...args: number[]) => void);
}

/** Per-channel sums of accumulator `which` over the chunks, in chunk order, in float64. */
function combine(heap: Float32Array, partials: number, l: Layout, accumulators: number, which: number): Float64Array {
  const sums = new Float64Array(l.c);
  const stride = (accumulators * l.cpBytes) / 4;
  const lanes = Array.from({ length: l.c }, (_, ch) => lane(l, ch));
  let base = partials / 4 + (which * l.cpBytes) / 4;
  for (let chunk = 0; chunk < l.chunks; chunk++, base += stride) {
    for (let ch = 0; ch < l.c; ch++) sums[ch]! += heap[base + lanes[ch]!]!;
  }
  return sums;
}

function kernels(heap: WasmHeap, kernel: string): BatchNormSimd {
  const memory = heap.memory();
  const k = memory && batchNormSimd(memory);
  if (!k) throw new Error(`${kernel}: the WebAssembly SIMD kernels are not available on this wasm backend`);
  return k;
}

function check(kernel: string, x: tf.TensorInfo, perChannel: tf.TensorInfo[]): Layout {
  for (const t of [x, ...perChannel]) if (t.dtype !== 'float32') throw new Error(`${kernel}: expected float32 tensors, got ${t.dtype}`);
  const l = layout(x.shape);
  if (x.shape.length < 2 || l.c < 4) throw new Error(`${kernel}: expected [..., C] with C >= 4, got [${x.shape.join(', ')}]`);
  for (const t of perChannel) if (t.shape.length !== 1 || t.shape[0] !== l.c) throw new Error(`${kernel}: expected per-channel tensors of shape [${l.c}], got [${t.shape.join(', ')}]`);
  return l;
}

/** Inputs x, weight, bias; attribute eps. Outputs y, mean, variance (biased), inv = 1 / sqrt(variance + eps). */
const forwardKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, weight, bias } = inputs as { x: tf.TensorInfo; weight: tf.TensorInfo; bias: tf.TensorInfo };
  const eps = (attrs as { eps: number }).eps;
  const l = check(FORWARD, x, [weight, bias]);
  const heap = wasmHeap(backend);
  const k = kernels(heap, FORWARD);
  const y = heap.makeOutput(x.shape, 'float32');
  const [mean, variance, inv] = [0, 1, 2].map(() => heap.makeOutput([l.c], 'float32')) as [tf.TensorInfo, tf.TensorInfo, tf.TensorInfo];
  // the chunks' partial sums, then the per-channel scale inv * weight
  const scratch = heap.makeOutput([(l.chunks * l.cpBytes) / 4 + l.c], 'float32');
  try {
    const [px, py, pMean, pVar, pInv, pw, pb, partials] = [x, y, mean, variance, inv, weight, bias, scratch].map((t) => heap.offset(t)) as number[] as [number, number, number, number, number, number, number, number];
    const pScale = partials + l.chunks * l.cpBytes;
    const f32 = new Float32Array(heap.buffer());
    reduce(heap, k, 'sumRows', l, px, px, partials, 1, px, 0);
    const sums = combine(f32, partials, l, 1, 0);
    for (let ch = 0; ch < l.c; ch++) f32[pMean / 4 + ch] = f32[px / 4 + ch]! + sums[ch]! / l.rows;
    reduce(heap, k, 'squaresRows', l, px, px, partials, 1, pMean, 0);
    const squares = combine(f32, partials, l, 1, 0);
    for (let ch = 0; ch < l.c; ch++) {
      const v = Math.fround(squares[ch]! / l.rows);
      f32[pVar / 4 + ch] = v;
      const iv = Math.fround(1 / Math.sqrt(Math.fround(v + eps)));
      f32[pInv / 4 + ch] = iv;
      f32[pScale / 4 + ch] = iv * f32[pw / 4 + ch]!;
    }
    elementwise(heap, k, 'normalizeRows', l, px, px, py, [pMean, pScale, pb, 0, 0]);
  } finally {
    heap.release(scratch);
  }
  return [y, mean, variance, inv];
};

/** Inputs dy, x, mean, inv, weight. Outputs dx, dweight, dbias. */
const backwardKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, x, mean, inv, weight } = inputs as Record<'dy' | 'x' | 'mean' | 'inv' | 'weight', tf.TensorInfo>;
  const l = check(BACKWARD, x, [mean, inv, weight]);
  if (dy.dtype !== 'float32' || !tf.util.arraysEqual(dy.shape, x.shape)) throw new Error(`${BACKWARD}: dy must be float32 of x's shape [${x.shape.join(', ')}], got ${dy.dtype} [${dy.shape.join(', ')}]`);
  const heap = wasmHeap(backend);
  const k = kernels(heap, BACKWARD);
  const dx = heap.makeOutput(x.shape, 'float32');
  const [dw, db] = [0, 1].map(() => heap.makeOutput([l.c], 'float32')) as [tf.TensorInfo, tf.TensorInfo];
  // the chunks' two partial sums, then a, k1, k2 per channel
  const scratch = heap.makeOutput([(2 * l.chunks * l.cpBytes) / 4 + 3 * l.c], 'float32');
  try {
    const [pdy, px, pMean, pInv, pw, pdx, pdw, pdb, partials] = [dy, x, mean, inv, weight, dx, dw, db, scratch].map((t) => heap.offset(t)) as number[] as [number, number, number, number, number, number, number, number, number];
    const [pa, pk1, pk2] = [0, 1, 2].map((i) => partials + 2 * l.chunks * l.cpBytes + 4 * i * l.c) as [number, number, number];
    const f32 = new Float32Array(heap.buffer());
    reduce(heap, k, 'gradRows', l, px, pdy, partials, 2, pMean, pInv);
    const [dySums, dyXhatSums] = [combine(f32, partials, l, 2, 0), combine(f32, partials, l, 2, 1)];
    const n = l.rows;
    for (let ch = 0; ch < l.c; ch++) {
      const dbias = Math.fround(dySums[ch]!);
      const dweight = Math.fround(dyXhatSums[ch]!);
      f32[pdb / 4 + ch] = dbias;
      f32[pdw / 4 + ch] = dweight;
      // dx = a (dy - mean(dy) - xhat mean(dy xhat)) = a dy + k1 + k2 (x - mean), xhat = (x - mean) inv
      const a = Math.fround(f32[pw / 4 + ch]! * f32[pInv / 4 + ch]!);
      f32[pa / 4 + ch] = a;
      f32[pk1 / 4 + ch] = (-a * dbias) / n;
      f32[pk2 / 4 + ch] = (-a * f32[pInv / 4 + ch]! * dweight) / n;
    }
    elementwise(heap, k, 'gradInputRows', l, px, pdy, pdx, [pMean, pa, pk1, pk2, 0]);
  } finally {
    heap.release(scratch);
  }
  return [dx, dw, db];
};

export function registerBatchNormKernels(): void {
  for (const [kernelName, kernelFunc] of [
    [FORWARD, forwardKernel],
    [BACKWARD, backwardKernel],
  ] as const) {
    if (!tf.getKernel(kernelName, 'wasm')) tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
}

export function unregisterBatchNormKernels(): void {
  for (const name of [FORWARD, BACKWARD]) if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
}

/**
 * Whether BatchNorm's training passes on `x` run in these kernels: the wasm backend with them
 * registered and its SIMD module, float32, at least 4 channels. Elsewhere BatchNorm2d keeps its
 * composite.
 */
export function fusedBatchNormApplies(x: Tensor): boolean {
  if (tf.getBackend() !== 'wasm' || !tf.getKernel(FORWARD, 'wasm') || x.dtype !== 'float32' || x.rank < 2 || x.shape[x.rank - 1]! < 4) return false;
  const memory = wasmHeap(tf.backend()).memory();
  return memory !== undefined && batchNormSimd(memory) !== undefined;
}

/** Training forward: y = (x - mean) inv weight + bias with the batch's mean, biased variance and inv. */
export function batchNormTrainForward(x: Tensor, weight: Tensor, bias: Tensor, eps: number): { y: Tensor; mean: Tensor1D; variance: Tensor1D; inv: Tensor1D } {
  const [y, mean, variance, inv] = tf.engine().runKernel(FORWARD, { x, weight, bias }, { eps } as unknown as tf.NamedAttrMap) as [Tensor, Tensor1D, Tensor1D, Tensor1D];
  return { y, mean, variance, inv };
}

/** Training backward from what the forward returned: dx, dweight, dbias. */
export function batchNormTrainBackward(dy: Tensor, x: Tensor, mean: Tensor, inv: Tensor, weight: Tensor): [Tensor, Tensor1D, Tensor1D] {
  return tf.engine().runKernel(BACKWARD, { dy, x, mean, inv, weight }) as [Tensor, Tensor1D, Tensor1D];
}
