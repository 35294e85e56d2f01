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
  /** A single product whose B is past L2: in column panels and K blocks (blockedMatMul). */
  blocked: boolean;
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
 * of A: fine while B stays in L2 (every 1x1 convolution of PartialNet and FPN), ruinous beyond (a
 * detector's box-head FC, [12544, 1024]: a row stride of 4 KiB, a new page and the same L1 set at
 * every step; Mask R-CNN inference went from 3.3 to 8.7 s in those products streamed). A single
 * product with a larger B is blocked instead (blockedMatMul). At 1 MiB streaming already halves the
 * rate (the mask head's [39200, 256] x [256, 1024]: 22 against 42 GFLOP/s blocked, one thread),
 * while up to 720 KiB both run at 44-49.
 */
const MAX_STREAMED_B_BYTES = 768 << 10;

/**
 * The blocked product's panel width and K block: each kernel call streams a BLOCK_K x PANEL_COLS
 * block of B (128 KiB, in L2 with room for the rows of A and C passing through) once per 4 rows
 * of A, from a contiguous copy of the panel, so no row stride of B's aliases in the caches.
 */
const PANEL_COLS = 128;
const BLOCK_K = 256;

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
  // XNNPACK's rate)
  if (batch === 1 && !transposeA && !transposeB && !useRelaxedSimd()) return undefined;
  const blocked = batch === 1 && 4 * k * n > MAX_STREAMED_B_BYTES;
  return { m, n, k, batch, batchA, batchB, outShape: [...outer, m, n], blocked };
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
  if (plan.blocked) return blockedMatMul(heap, kernels, a, b, transposeA, transposeB, plan, bias);
  const out = heap.makeOutput(plan.outShape, 'float32');
  const packed = transposeB ? heap.makeOutput([batchB, k, n], 'float32') : undefined;
  try {
    // offsets after the last allocation (addresses stay valid when the heap grows)
    let bBase = heap.offset(b);
    if (packed) {
      const dst = heap.offset(packed);
      transposeMatrices(heap, kernels, bBase, n, k, dst, batchB);
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
    for (let i = 0; i < batch; i++) {
      const aAt = aBase + (i % batchA) * m * k * 4;
      const bAt = bBase + (i % batchB) * k * n * 4;
      const cAt = cBase + i * m * n * 4;
      inRowBands(heap, kernels, 'matmul', m, m * n * k, (r0, rows) => [aAt + r0 * aRow, aRow, aCol, bAt, n * 4, cAt + r0 * n * 4, n * 4, rows, n, k, biasAt]);
    }
  } finally {
    if (packed) heap.release(packed);
  }
  return out;
}

/**
 * Runs `name` over bands of C's rows, on the kernel pool where the work is large enough: bands of
 * whole tiles, the last one taking what is left over, so each output's sum is the one a single
 * call over all rows computes. `args(r0, rows)` are the call's arguments for rows r0..r0+rows-1.
 */
function inRowBands(heap: WasmHeap, kernels: SimdKernels, name: 'matmul' | 'matmulPanel', m: number, macs: number, args: (r0: number, rows: number) => number[]): void {
  const local = kernels[name] as (...xs: number[]) => void;
  const pool = m >= 2 * MATMUL_TILE_ROWS && macs >= PARALLEL_MIN_MACS ? kernelPool(heap.memory()!) : undefined;
  if (!pool) {
    local(...args(0, m));
    return;
  }
  const tiles = Math.floor(m / MATMUL_TILE_ROWS);
  const shares = splitRange(tiles, pool.threads).map(([s, e]) => {
    const [r0, r1] = [s * MATMUL_TILE_ROWS, e === tiles ? m : e * MATMUL_TILE_ROWS];
    return args(r0, r1 - r0);
  });
  pool.run(simdKernelsBinary(true), name, shares, local);
}

/**
 * C = A B (+ bias) for a single product whose B is past L2 (MAX_STREAMED_B_BYTES), Goto-style:
 * B in column panels of PANEL_COLS, each copied contiguous (a transposed B is transposed into it),
 * and each panel's product in K blocks of BLOCK_K (`matmulPanel`), so the B a call streams stays in
 * L2. Accumulating over K blocks needs whole tiles, so the blocks cover the first M - M % 4 rows
 * and N - N % 8 columns; the last 4 rows go through a 4-row scratch C (their first M % 4 - 4 rows
 * recomputed with the same bits), the last 8 columns through one plain `matmul` over all of K. Every
 * output has the bits of one `matmul` call over all of K.
 */
function blockedMatMul(heap: WasmHeap, kernels: SimdKernels, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean, plan: MatMulPlan, bias?: tf.TensorInfo): tf.TensorInfo {
  const { m, n, k } = plan;
  if (k <= BLOCK_K && (m - (m % MATMUL_TILE_ROWS)) * PANEL_COLS * k < PARALLEL_MIN_MACS) return columnPanelMatMul(heap, kernels, a, b, transposeA, transposeB, plan, bias);
  const out = heap.makeOutput(plan.outShape, 'float32');
  const panel = heap.makeOutput([k, PANEL_COLS], 'float32');
  const tail = m % MATMUL_TILE_ROWS ? heap.makeOutput([MATMUL_TILE_ROWS, PANEL_COLS], 'float32') : undefined;
  try {
    const [aBase, bBase, cBase, panelAt] = [heap.offset(a), heap.offset(b), heap.offset(out), heap.offset(panel)];
    const tailAt = tail ? heap.offset(tail) : 0;
    const biasAt = bias ? heap.offset(bias) : 0;
    const [aRow, aCol] = transposeA ? [4, m * 4] : [k * 4, 4];
    const [m4, n8] = [m - (m % MATMUL_TILE_ROWS), n - (n % MATMUL_TILE_COLS)];
    /** B's columns j0..j0+cols-1 into the panel, rows of `cols` floats */
    const copyPanel = (j0: number, cols: number): void => {
      if (transposeB) kernels.transpose(bBase + j0 * k * 4, cols, k, panelAt);
      else kernels.copyRows(bBase + j0 * 4, n * 4, panelAt, cols * 4, cols * 4, k);
    };
    for (let j0 = 0; j0 < n8; j0 += PANEL_COLS) {
      const cols = Math.min(PANEL_COLS, n8 - j0);
      copyPanel(j0, cols);
      const panelBias = bias ? biasAt + j0 * 4 : 0;
      if (m4 > 0) inRowBands(heap, kernels, 'matmulPanel', m4, m4 * cols * k, (r0, rows) => [aBase + r0 * aRow, aRow, aCol, panelAt, cols * 4, cBase + (r0 * n + j0) * 4, n * 4, rows, cols, k, panelBias, BLOCK_K]);
      if (tail) {
        kernels.matmulPanel(aBase + (m - MATMUL_TILE_ROWS) * aRow, aRow, aCol, panelAt, cols * 4, tailAt, cols * 4, MATMUL_TILE_ROWS, cols, k, panelBias, BLOCK_K);
        const rows = m - m4;
        kernels.copyRows(tailAt + (MATMUL_TILE_ROWS - rows) * cols * 4, cols * 4, cBase + (m4 * n + j0) * 4, n * 4, cols * 4, rows);
      }
    }
    if (n8 < n) {
      const j0 = n - MATMUL_TILE_COLS;
      copyPanel(j0, MATMUL_TILE_COLS);
      inRowBands(heap, kernels, 'matmul', m, m * MATMUL_TILE_COLS * k, (r0, rows) => [aBase + r0 * aRow, aRow, aCol, panelAt, MATMUL_TILE_COLS * 4, cBase + (r0 * n + j0) * 4, n * 4, rows, MATMUL_TILE_COLS, k, bias ? biasAt + j0 * 4 : 0]);
    }
  } finally {
    heap.release(panel);
    if (tail) heap.release(tail);
  }
  return out;
}

/**
 * C = A B (+ bias) for a single product past L2 with few rows of A and K within one block (a
 * Winograd filter transform or its gradient: [36, 9] x [9, 65536], [9, 36] x [36, 65536]), where
 * blockedMatMul's row bands of a panel would stay on one thread: ranges of whole column panels per
 * thread instead, each copied into the thread's own panel and multiplied over all of K by one
 * `matmul` (`matmulColumnPanels`), so the bits are those of one `matmul` call.
 */
function columnPanelMatMul(heap: WasmHeap, kernels: SimdKernels, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean, plan: MatMulPlan, bias?: tf.TensorInfo): tf.TensorInfo {
  const { m, n, k } = plan;
  const panels = Math.max(1, Math.floor(n / PANEL_COLS));
  const pool = m * n * k >= PARALLEL_MIN_MACS && panels >= 2 ? kernelPool(heap.memory()!) : undefined;
  const shares = splitRange(panels, pool?.threads ?? 1);
  // room for a panel of PANEL_COLS + 7 columns (a last panel that takes the few columns past it)
  const panelFloats = k * (PANEL_COLS + MATMUL_TILE_COLS);
  const out = heap.makeOutput(plan.outShape, 'float32');
  const scratch = heap.makeOutput([shares.length, panelFloats], 'float32');
  try {
    const [aBase, bBase, cBase, panelBase] = [heap.offset(a), heap.offset(b), heap.offset(out), heap.offset(scratch)];
    const [aRow, aCol] = transposeA ? [4, m * 4] : [k * 4, 4];
    const args = shares.map(([s, e], t) => [aBase, aRow, aCol, bBase, n, cBase, n * 4, m, k, bias ? heap.offset(bias) : 0, panelBase + t * panelFloats * 4, s * PANEL_COLS, e === panels ? n : e * PANEL_COLS, PANEL_COLS, transposeB ? 1 : 0]);
    if (!pool) kernels.matmulColumnPanels(...(args[0] as Parameters<SimdKernels['matmulColumnPanels']>));
    else pool.run(simdKernelsBinary(true), 'matmulColumnPanels', args, kernels.matmulColumnPanels as (...xs: number[]) => void);
  } finally {
    heap.release(scratch);
  }
  return out;
}

/**
 * Matrices of fewer elements are left to the stock Transpose: measured (ms, one thread) stock
 * against ours, [1024, 12544] 91 / 27 (a box-head FC's input, transposed for its weight
 * gradient), [12544, 1024] 19.5 / 19, a batch of 36 [2048, 256] 144 / 28, [1024, 1024] 8.2 / 0.7,
 * [3136, 256] 0.52 / 0.40, [784, 512] 0.26 / 0.19, but [196, 512] 0.06 / 0.05 and a batch of 4
 * [196, 256] 0.08 / 0.11 (one call per matrix from JavaScript).
 */
const MIN_TRANSPOSED_ELEMENTS = 1 << 16;

/**
 * Transpose when the permutation swaps the last two axes and keeps the others (a matrix, or a
 * batch of them) of at least MIN_TRANSPOSED_ELEMENTS elements each, for 4-byte dtypes: the SIMD
 * module's blocked transpose per matrix (tfjs's Transpose takes up to 4 ns per element on such a
 * matrix, see simd-matmul.ts: the weight gradients' x^T). Undefined: left to the stock kernel.
 */
export function transposeLastTwo(heap: WasmHeap, kernels: SimdKernels, x: tf.TensorInfo, perm: number[]): tf.TensorInfo | undefined {
  const r = x.shape.length;
  if (r < 2 || perm.length !== r || (x.dtype !== 'float32' && x.dtype !== 'int32')) return undefined;
  if (perm[r - 2] !== r - 1 || perm[r - 1] !== r - 2 || perm.slice(0, -2).some((p, i) => p !== i)) return undefined;
  const [rows, cols] = [x.shape[r - 2]!, x.shape[r - 1]!];
  if (rows * cols < MIN_TRANSPOSED_ELEMENTS) return undefined;
  const out = heap.makeOutput([...x.shape.slice(0, -2), cols, rows], x.dtype);
  const batch = size(x.shape.slice(0, -2));
  if (rows * cols * batch === 0) return out;
  transposeMatrices(heap, kernels, heap.offset(x), rows, cols, heap.offset(out), batch);
  return out;
}

/** Elements below which a batch of transposes stays on one thread (~2 MiB of floats each way). */
const PARALLEL_MIN_TRANSPOSED = 1 << 19;

/**
 * `count` consecutive rows x cols matrices at src transposed into consecutive cols x rows ones at
 * dst, whole matrices per thread on the kernel pool where there are several and enough elements
 * (the packing of a transposed B for Winograd's 36 planes, [36, 256, 256]: ~1.7 ms on one thread).
 */
function transposeMatrices(heap: WasmHeap, kernels: SimdKernels, src: number, rows: number, cols: number, dst: number, count: number): void {
  const bytes = rows * cols * 4;
  const pool = count >= 2 && rows * cols * count >= PARALLEL_MIN_TRANSPOSED ? kernelPool(heap.memory()!) : undefined;
  if (!pool) return kernels.transposeBatch(src, rows, cols, dst, count, bytes, bytes);
  pool.run(simdKernelsBinary(true), 'transposeBatch', splitRange(count, pool.threads).map(([s, e]) => [src + s * bytes, rows, cols, dst + s * bytes, e - s, bytes, bytes]), kernels.transposeBatch as (...xs: number[]) => void);
}
