import { tf } from '../tf.js';
import { MATMUL_TILE_COLS, MATMUL_TILE_ROWS } from './simd-matmul.js';
import { simdKernelsBinary, type SimdKernels } from './simd-kernels.js';
import { kernelPool, splitRange } from './kernel-pool.js';
import type { WasmHeap } from './wasm-internals.js';
import { useRelaxedSimd } from './relaxed-simd.js';

/**
 * BatchMatMul (and Transpose of the last two axes) for tfjs-backend-wasm where its own kernel is slow. It is fast (XNNPACK) only for a
 * single product (batch 1 on both sides) without transposes; a batch of matrices (PAT_sf's
 * attention: 64 products of 49 x 48 by 48 x 49 at batch 16, ~1.5 GFLOP/s) or a transposed operand
 * runs 8-13x slower than here (one thread: [3136, 128]^T x [3136, 256] 99 ms against 11 ms,
 * [3136, 128] x [256, 128]^T 84 against 11, the attention products 10 against 0.9-1.2). Here the SIMD module's tiled kernel (simd-matmul.ts, ~30 GFLOP/s on one
 * thread) does each matrix of the batch; a transposed B is packed first (K N words per matrix, a
 * small cost beside its M N K multiply-adds), a transposed A is read in place.
 *
 * Broadcasting as tfjs defines it (its kernels take matrix bi % batchA of a for output bi): equal
 * batch shapes, a single matrix used for every product, or batch dims that are the output's
 * trailing ones. `plan` returns undefined for
 * what is left to the stock kernel: non-float32, other broadcasts, matrices below the kernel's
 * tile (M < 4, N < 8), K = 0, and a single product without transposes (XNNPACK) unless our kernel
 * has relaxed SIMD's multiply-add, which makes it faster than XNNPACK there too.
 */
export interface MatMulPlan {
  m: number;
  n: number;
  k: number;
  batch: number;
  batchA: number;
  batchB: number;
  outShape: number[];
}

const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

/**
 * Whether an operand's batch dims, leading 1s dropped, are the trailing dims of the output's: then
 * output matrix bi uses its matrix bi % (its batch size), tfjs's rule. ([2, 1] against [1, 2]
 * broadcasts otherwise: left to the stock kernel.)
 */
function suffixOf(outerX: number[], outer: number[]): boolean {
  let first = 0;
  while (first < outerX.length && outerX[first] === 1) first++;
  const kept = outerX.slice(first);
  return kept.every((d, i) => d === outer[outer.length - kept.length + i]);
}

/**
 * Our kernel streams all of B (its N columns in tiles of 8, each down all K rows) once per 4 rows
 * of A, without blocking: fine while B stays in L2 (every 1x1 convolution of PartialNet and FPN),
 * ruinous beyond (a detector's box-head FC, [12544, 1024]: a row stride of 4 KiB, a new page and
 * the same L1 set at every step; Mask R-CNN inference went from 3.3 to 8.7 s in those products).
 * Single plain products with a larger B stay with XNNPACK, which packs and blocks it.
 */
const MAX_STREAMED_B_BYTES = 1 << 20;

export function planBatchMatMul(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): MatMulPlan | undefined {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return undefined;
  const [ra, rb] = [a.shape.length, b.shape.length];
  const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const kB = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (k !== kB || k < 1 || m < MATMUL_TILE_ROWS || n < MATMUL_TILE_COLS) return undefined;
  const [outerA, outerB] = [a.shape.slice(0, -2), b.shape.slice(0, -2)];
  const [batchA, batchB] = [size(outerA), size(outerB)];
  let outer: number[];
  try {
    outer = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
  } catch {
    return undefined; // the stock kernel raises tfjs's own error
  }
  const batch = size(outer);
  if (!suffixOf(outerA, outer) || !suffixOf(outerB, outer)) return undefined;
  // a single plain product: XNNPACK's, unless our tile has relaxed_madd (relaxed-simd.ts: ~1.7x
  // XNNPACK's rate) and B stays in L2 (see MAX_STREAMED_B_BYTES)
  if (batch === 1 && !transposeA && !transposeB && (!useRelaxedSimd() || 4 * k * n > MAX_STREAMED_B_BYTES)) return undefined;
  return { m, n, k, batch, batchA, batchB, outShape: [...outer, m, n] };
}

/**
 * Multiply-adds of one product below which it stays on one thread: waking the kernel pool costs
 * ~10-30 us, about 2^19 multiply-adds here.
 */
const PARALLEL_MIN_MACS = 1 << 20;

/**
 * The product as planned; a and b are on the heap. Where the memory is shared, large work runs on
 * the kernel pool's threads (kernel-pool.ts): a batch of at least two products per thread as whole
 * products per thread, a smaller one (or a broadcast that is not one matrix for all) in bands of
 * each product's rows. Either way every output is the sum one call on one thread computes.
 */
export function batchMatMul(heap: WasmHeap, kernels: SimdKernels, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean, plan: MatMulPlan, bias?: tf.TensorInfo): tf.TensorInfo {
  const { m, n, k, batch, batchA, batchB } = plan;
  const out = heap.makeOutput(plan.outShape, 'float32');
  const packed = transposeB ? heap.makeOutput([batchB, k, n], 'float32') : undefined;
  try {
    // offsets after the last allocation (addresses stay valid when the heap grows)
    let bBase = heap.offset(b);
    if (packed) {
      const dst = heap.offset(packed);
      for (let i = 0; i < batchB; i++) kernels.transpose(bBase + i * n * k * 4, n, k, dst + i * k * n * 4);
      bBase = dst;
    }
    const [aBase, cBase] = [heap.offset(a), heap.offset(out)];
    const biasAt = bias ? heap.offset(bias) : 0;
    const [aRow, aCol] = transposeA ? [4, m * 4] : [k * 4, 4];
    const pool = m * n * k * batch >= PARALLEL_MIN_MACS ? kernelPool(heap.memory()!) : undefined;
    // operands that are one matrix for every product, or one per product, advance by a stride
    const stride = (count: number, bytes: number): number | undefined => (count === 1 ? 0 : count === batch ? bytes : undefined);
    const [aStride, bStride] = [stride(batchA, m * k * 4), stride(batchB, k * n * 4)];
    if (aStride !== undefined && bStride !== undefined && (!pool || batch >= 2 * pool.threads)) {
      // whole products per thread (Winograd's alpha^2 planes, attention heads): one wake-up for the
      // batch instead of one per product, and no thread waits on another's rows
      const args = (first: number, count: number): number[] => [aBase + first * aStride, aRow, aCol, bBase + first * bStride, n * 4, cBase + first * m * n * 4, n * 4, m, n, k, biasAt, count, aStride, bStride, m * n * 4];
      if (!pool) kernels.matmulBatch(...(args(0, batch) as Parameters<SimdKernels['matmulBatch']>));
      else pool.run(simdKernelsBinary(true), 'matmulBatch', splitRange(batch, pool.threads).map(([s, e]) => args(s, e - s)), kernels.matmulBatch as (...xs: number[]) => void);
      return out;
    }
    const rowPool = m >= 2 * MATMUL_TILE_ROWS && m * n * k >= PARALLEL_MIN_MACS ? pool : undefined;
    for (let i = 0; i < batch; i++) {
      const aAt = aBase + (i % batchA) * m * k * 4;
      const bAt = bBase + (i % batchB) * k * n * 4;
      const cAt = cBase + i * m * n * 4;
      if (!rowPool) {
        kernels.matmul(aAt, aRow, aCol, bAt, n * 4, cAt, n * 4, m, n, k, biasAt);
        continue;
      }
      // bands of C's rows in whole tiles (the last band takes the rest): each output's sum is the
      // one the single call computes
      const tiles = Math.floor(m / MATMUL_TILE_ROWS);
      const shares = splitRange(tiles, rowPool.threads).map(([s, e]) => {
        const [r0, r1] = [s * MATMUL_TILE_ROWS, e === tiles ? m : e * MATMUL_TILE_ROWS];
        return [aAt + r0 * aRow, aRow, aCol, bAt, n * 4, cAt + r0 * n * 4, n * 4, r1 - r0, n, k, biasAt];
      });
      rowPool.run(simdKernelsBinary(true), 'matmul', shares, kernels.matmul);
    }
  } finally {
    if (packed) heap.release(packed);
  }
  return out;
}

/**
 * Matrices with fewer rows are left to the stock Transpose: measured (CPU ms, one thread) stock
 * against ours, [50176, 64] 12.5 / 4.1, [50176, 48] 16.3 / 2.2, [12544, 128] 2.2 / 1.1,
 * [12544, 64] 0.83 / 0.53, but [3136, 256] 0.51 / 0.52, [3136, 128] 0.21 / 0.26 and a batch of 64
 * [49, 48] 0.06 / 0.12 (one call per matrix from JavaScript).
 */
const TALL_ROWS = 8192;

/**
 * Transpose when the permutation swaps the last two axes and keeps the others (a matrix, or a
 * batch of them) of at least TALL_ROWS rows, for 4-byte dtypes: the SIMD module's blocked
 * transpose per matrix (tfjs's Transpose takes up to 4 ns per element on such a matrix, see
 * simd-matmul.ts: the weight gradients' x^T). Undefined: left to the stock kernel.
 */
export function transposeLastTwo(heap: WasmHeap, kernels: SimdKernels, x: tf.TensorInfo, perm: number[]): tf.TensorInfo | undefined {
  const r = x.shape.length;
  if (r < 2 || perm.length !== r || (x.dtype !== 'float32' && x.dtype !== 'int32')) return undefined;
  if (perm[r - 2] !== r - 1 || perm[r - 1] !== r - 2 || perm.slice(0, -2).some((p, i) => p !== i)) return undefined;
  const [rows, cols] = [x.shape[r - 2]!, x.shape[r - 1]!];
  if (rows < TALL_ROWS) return undefined;
  const out = heap.makeOutput([...x.shape.slice(0, -2), cols, rows], x.dtype);
  const batch = size(x.shape.slice(0, -2));
  if (rows * cols * batch === 0) return out;
  const [src, dst] = [heap.offset(x), heap.offset(out)];
  for (let i = 0; i < batch; i++) kernels.transpose(src + i * rows * cols * 4, rows, cols, dst + i * rows * cols * 4);
  return out;
}
