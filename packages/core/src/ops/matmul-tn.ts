import { tf } from '../tf.js';
import type { Tensor2D, Tensor3D } from '../tf.js';
import { kernelPool, kernelPoolThreads, splitRange } from '../runtime/kernel-pool.js';
import { matMulTNBatchKernel, matMulTNBinary, matMulTNKernel } from '../runtime/matmul-tn-kernels.js';
import { wasmHeap } from '../runtime/wasm-internals.js';
import { useRelaxedSimd } from '../runtime/relaxed-simd.js';

const KERNEL = 'PartialnetMatMulTN';

/** Rows of A and B per pass over C: both blocks together about 256 KiB, so they stay in L2. */
function blockRows(k: number, n: number): number {
  return Math.max(8, Math.floor((256 * 1024) / (4 * (k + n))));
}

export function registerMatMulTNKernel(): void {
  if (tf.getKernel(KERNEL, 'wasm')) return;
  tf.registerKernel({
    kernelName: KERNEL,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      if (a.dtype !== 'float32' || b.dtype !== 'float32') throw new Error(`${KERNEL}: expected float32 operands, got ${a.dtype} and ${b.dtype}`);
      // [M, K] and [M, N], or batches of them: [B, M, K] and [B, M, N]
      const rank = a.shape.length;
      const batch = rank === 3 ? a.shape[0]! : 1;
      const [m, k] = a.shape.slice(-2) as [number, number];
      const [mb, n] = b.shape.slice(-2) as [number, number];
      if ((rank !== 2 && rank !== 3) || b.shape.length !== rank || m !== mb || (rank === 3 && b.shape[0] !== batch)) {
        throw new Error(`${KERNEL}: expected [M, K] and [M, N] (or batches [B, M, K] and [B, M, N]), got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
      }
      if (k % 4 !== 0 || n % 4 !== 0) throw new Error(`${KERNEL}: K and N must be multiples of 4, got ${k} and ${n}`);
      const heap = wasmHeap(backend);
      const memory = heap.memory();
      const kernel = memory && matMulTNKernel(memory);
      if (!kernel) throw new Error(`${KERNEL}: the WebAssembly SIMD kernel is not available on this wasm backend`);
      const out = heap.makeOutput(rank === 3 ? [batch, k, n] : [k, n], 'float32');
      // the kernel writes every output of C from its first block of rows (init), so C needs no
      // zeroing unless there are no rows at all
      if (m === 0) new Float32Array(heap.buffer(), heap.offset(out), batch * k * n).fill(0);
      if (m === 0 || batch * k * n === 0) return out;
      const rows = blockRows(k, n);
      const pool = kernelPool(memory);
      const [aBase, bBase, cBase] = [heap.offset(a), heap.offset(b), heap.offset(out)];
      if (pool && batch >= 2 * pool.threads && batch * m * k * n >= PARALLEL_MIN_MACS) {
        // whole products per thread (Winograd's 36 planes): one wake-up for the batch, and the
        // small planes of a tiny map ([36, 8, 256]^T [36, 8, 256]) go parallel too
        const batchKernel = matMulTNBatchKernel(memory)!;
        const shares = splitRange(batch, pool.threads).map(([s, e]) => [aBase + 4 * s * m * k, bBase + 4 * s * m * n, cBase + 4 * s * k * n, m, k, n, rows, k, 1, e - s, 4 * m * k, 4 * m * n, 4 * k * n]);
        pool.run(matMulTNBinary(true), 'matMulTNBatch', shares, batchKernel as (...args: number[]) => void);
        return out;
      }
      for (let i = 0; i < batch; i++) {
        const [pa, pb, pc] = [aBase + 4 * i * m * k, bBase + 4 * i * m * n, cBase + 4 * i * k * n];
        if (pool && k >= 8 && m * k * n >= PARALLEL_MIN_MACS) {
          // bands of C's rows (A's columns), in whole blocks of 4: each thread owns its outputs, and
          // every element sees the same row blocks in the same order as on one thread
          const bands = splitRange(k / 4, pool.threads).map(([s, e]) => [pa + 16 * s, pb, pc + 16 * s * n, m, 4 * (e - s), n, rows, k, 1]);
          pool.run(matMulTNBinary(true), 'matMulTN', bands, kernel);
        } else {
          kernel(pa, pb, pc, m, k, n, rows, k, 1);
        }
      }
      return out;
    },
  });
}

/**
 * Multiply-adds below which a call stays on one thread: waking the pool costs ~10-30 us, about
 * what 2^19 multiply-adds take here (~29 GFLOP/s).
 */
const PARALLEL_MIN_MACS = 1 << 20;

let poolThreads = 1;

/** The wasm backend's XNNPACK pool size (backend.ts sets it when the backend loads). */
export function setWasmPoolThreads(threads: number): void {
  poolThreads = threads;
}

/**
 * Whether the kernel (one thread) beats XNNPACK on `threads` threads for a^T b: per row of the
 * operands ours costs 2KN flops at ~29 GFLOP/s, XNNPACK's 2KN at ~28 GFLOP/s per thread plus
 * ~2.1 ns per element it transposes (a) and repacks (b) on one thread. Measured on one Zen 4
 * core: ours 24-34 GFLOP/s from [50176, 32]^T [50176, 64] (8.7 ms vs 21 ms) to [196, 256]^T
 * [196, 256]; on two threads XNNPACK wins from K N / (K + N) ~ 64 ([3136, 128]^T [3136, 256])
 * unless ours runs on the kernel pool's threads too (`ours`).
 */
function beatsXnnpack(k: number, n: number, threads: number, ours: number): boolean {
  // each thread of the kernel pool past the first adds about half a thread (measured 1.3-2.2x on
  // two threads, least on the widest products, which stream all of B on both threads)
  // relaxed SIMD's multiply-add: 32-37 GFLOP/s on the same products (relaxed-simd.ts)
  const rate = useRelaxedSimd() ? 34 : 29;
  return 2 * k * n * (1 / (rate * (1 + 0.5 * (ours - 1))) - 1 / (28 * threads)) <= 2.1 * (k + n);
}

/**
 * Bytes of C (K x N) past which a^T b goes through a transpose of a and our product instead, with
 * relaxed SIMD. The kernel passes over all of C once per block of rows, so a C past L2 is streamed
 * from memory each time, while the product blocks its B (wasm-matmul.ts) and the transpose costs
 * ~1-2 ns per element of a. One thread: [1024, 1024]^T [1024, 1024] 128 ms here against 0.7 + 49;
 * a box-head FC's weight gradient [1024, 12544]^T [1024, 1024] 999 against 22 + 607; up to C's
 * 512 KiB the two are within 15 % either way ([784, 256]^T [784, 512] 5.2 against 4.4, Winograd's
 * 36 planes [2048, 256]^T [2048, 256] 275 against 353).
 */
const MAX_OUTPUT_BYTES = 1 << 20;

export function unregisterMatMulTNKernel(): void {
  if (tf.getKernel(KERNEL, 'wasm')) tf.unregisterKernel(KERNEL, 'wasm');
}

/**
 * a^T b for a [M, K], b [M, N] (or each pair of batches [B, M, K] and [B, M, N]) with our wasm
 * kernel (runtime/matmul-tn-kernels.ts), or undefined where it does not apply (another backend, K
 * or N not a multiple of 4), XNNPACK's threads would be faster, or C is past L2 (MAX_OUTPUT_BYTES).
 */
export function matMulTNWasm<T extends Tensor2D | Tensor3D>(a: T, b: T): T | undefined {
  if (tf.getBackend() !== 'wasm' || !tf.getKernel(KERNEL, 'wasm')) return undefined;
  const rank = a.shape.length;
  if ((rank !== 2 && rank !== 3) || b.shape.length !== rank || (rank === 3 && a.shape[0] !== b.shape[0])) return undefined;
  const [m, k] = a.shape.slice(-2) as [number, number];
  const [mb, n] = b.shape.slice(-2) as [number, number];
  if (mb !== m || k % 4 !== 0 || n % 4 !== 0 || !beatsXnnpack(k, n, poolThreads, kernelPoolThreads())) return undefined;
  if (useRelaxedSimd() && 4 * k * n > MAX_OUTPUT_BYTES) return undefined;
  const memory = wasmHeap(tf.backend()).memory();
  if (!memory || !matMulTNKernel(memory)) return undefined;
  return tf.engine().runKernel(KERNEL, { a, b }) as T;
}
