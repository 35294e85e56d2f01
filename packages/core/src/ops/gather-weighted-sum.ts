import { tf } from '../tf.js';
import type { Tensor, Tensor2D } from '../tf.js';
import { kernelPool, splitRange } from '../runtime/kernel-pool.js';
import { GATHER_BLOCK_FLOATS, gatherSumBinary, gatherSumKernels, type GatherSumKernels } from '../runtime/gather-sum-kernels.js';
import { wasmHeap, type WasmHeap } from '../runtime/wasm-internals.js';
import type { WasmMemory } from '../runtime/webassembly.js';

const GATHER = 'PartialnetGatherWeightedSum';
const SCATTER = 'PartialnetScatterWeightedAdd';

/**
 * Multiply-adds (rows x taps x columns) below which a call stays on one thread: waking the kernel
 * pool costs ~50-100 us on a VM, ~1/4 ns per multiply-add here.
 */
const PARALLEL_MIN_TERMS = 1 << 19;

/** Whether the wasm kernels are worth using now (only with the SIMD module: wasm-kernels.ts says). */
let worthUsing: (() => boolean) | undefined;

function kernelsOf(memory: WasmMemory | undefined, name: string): { memory: WasmMemory; kernels: GatherSumKernels } {
  const kernels = memory && gatherSumKernels(memory);
  if (!memory || !kernels) throw new Error(`${name}: the WebAssembly SIMD kernels are not available on this wasm backend`);
  return { memory, kernels };
}

/** Checks the operands' shapes and that every index is a row of the table (the kernels do not bound-check). */
function checkOperands(name: string, heap: WasmHeap, index: tf.TensorInfo, weight: tf.TensorInfo, tableRows: number, cols: number): [number, number] {
  if (index.dtype !== 'int32' || weight.dtype !== 'float32' || index.shape.length !== 2 || !tf.util.arraysEqual(index.shape, weight.shape)) {
    throw new Error(`${name}: expected int32 index and float32 weight of one shape [B, T], got ${index.dtype} [${index.shape.join(', ')}] and ${weight.dtype} [${weight.shape.join(', ')}]`);
  }
  if (cols % GATHER_BLOCK_FLOATS !== 0) throw new Error(`${name}: rows of ${cols} floats; the kernel takes multiples of ${GATHER_BLOCK_FLOATS}`);
  const [rows, taps] = index.shape as [number, number];
  if (rows * taps > 0) {
    const ids = new Int32Array(heap.buffer(), heap.offset(index), rows * taps);
    for (let i = 0; i < ids.length; i++) {
      const r = ids[i]!;
      if (!(r >= 0 && r < tableRows)) throw new Error(`${name}: index ${r} (tap ${i % taps} of row ${Math.floor(i / taps)}) is outside the table's ${tableRows} rows`);
    }
  }
  return [rows, taps];
}

const gatherKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { table, index, weight } = inputs as { table: tf.TensorInfo; index: tf.TensorInfo; weight: tf.TensorInfo };
  if (table.dtype !== 'float32' || table.shape.length !== 2) throw new Error(`${GATHER}: expected a float32 table [R, C], got ${table.dtype} [${table.shape.join(', ')}]`);
  const heap = wasmHeap(backend);
  const [tableRows, cols] = table.shape as [number, number];
  const [rows, taps] = checkOperands(GATHER, heap, index, weight, tableRows, cols);
  const out = heap.makeOutput([rows, cols], 'float32');
  if (rows * cols === 0) return out;
  if (taps === 0) {
    new Float32Array(heap.buffer(), heap.offset(out), rows * cols).fill(0);
    return out;
  }
  const { memory, kernels } = kernelsOf(heap.memory(), GATHER);
  const at = { table: heap.offset(table), index: heap.offset(index), weight: heap.offset(weight), out: heap.offset(out) };
  const pool = rows * taps * cols >= PARALLEL_MIN_TERMS ? kernelPool(memory) : undefined;
  // rows per thread: each output row is one thread's sum over its taps in order
  const shares = splitRange(rows, pool ? pool.threads : 1).map(([r0, r1]) => [at.table, at.index + 4 * r0 * taps, at.weight + 4 * r0 * taps, at.out + 4 * r0 * cols, r1 - r0, taps, 4 * cols, 0, 4 * cols]);
  if (pool) pool.run(gatherSumBinary(true), 'gatherSum', shares, kernels.gatherSum);
  else kernels.gatherSum(...(shares[0] as Parameters<GatherSumKernels['gatherSum']>));
  return out;
};

const scatterKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, index, weight } = inputs as { dy: tf.TensorInfo; index: tf.TensorInfo; weight: tf.TensorInfo };
  const tableRows = (attrs as { tableRows: number }).tableRows;
  if (dy.dtype !== 'float32' || dy.shape.length !== 2) throw new Error(`${SCATTER}: expected float32 dy [B, C], got ${dy.dtype} [${dy.shape.join(', ')}]`);
  const heap = wasmHeap(backend);
  const cols = dy.shape[1]!;
  const [rows, taps] = checkOperands(SCATTER, heap, index, weight, tableRows, cols);
  if (rows !== dy.shape[0]) throw new Error(`${SCATTER}: dy has ${dy.shape[0]} rows, index ${rows}`);
  const grad = heap.makeOutput([tableRows, cols], 'float32');
  if (tableRows * cols === 0) return grad;
  new Float32Array(heap.buffer(), heap.offset(grad), tableRows * cols).fill(0);
  if (rows * taps === 0) return grad;
  const { memory, kernels } = kernelsOf(heap.memory(), SCATTER);
  const at = { dy: heap.offset(dy), index: heap.offset(index), weight: heap.offset(weight), grad: heap.offset(grad) };
  const pool = rows * taps * cols >= PARALLEL_MIN_TERMS ? kernelPool(memory) : undefined;
  // column blocks per thread: taps of different rows land on the same table row, so the rows
  // cannot be split; each element's sum is then over the rows and taps in order on one thread
  const blocks = cols / GATHER_BLOCK_FLOATS;
  const bytes = 4 * GATHER_BLOCK_FLOATS;
  const shares = splitRange(blocks, pool ? pool.threads : 1).map(([b0, b1]) => [at.dy, at.index, at.weight, at.grad, rows, taps, 4 * cols, b0 * bytes, b1 * bytes]);
  if (pool) pool.run(gatherSumBinary(true), 'scatterAdd', shares, kernels.scatterAdd);
  else kernels.scatterAdd(...(shares[0] as Parameters<GatherSumKernels['scatterAdd']>));
  return grad;
};

/** Registers the wasm kernels; `use` says whether gatherWeightedSum should take them now. */
export function registerGatherSumKernels(use: () => boolean): void {
  worthUsing = use;
  if (!tf.getKernel(GATHER, 'wasm')) tf.registerKernel({ kernelName: GATHER, backendName: 'wasm', kernelFunc: gatherKernel });
  if (!tf.getKernel(SCATTER, 'wasm')) tf.registerKernel({ kernelName: SCATTER, backendName: 'wasm', kernelFunc: scatterKernel });
}

export function unregisterGatherSumKernels(): void {
  for (const name of [GATHER, SCATTER]) if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
}

/** Whether gatherWeightedSum runs as the wasm kernels now for a table of `cols` columns. */
export function gatherWeightedSumFused(cols: number): boolean {
  if (tf.getBackend() !== 'wasm' || !tf.getKernel(GATHER, 'wasm') || !(worthUsing?.() ?? false)) return false;
  if (cols === 0 || cols % GATHER_BLOCK_FLOATS !== 0) return false;
  const memory = wasmHeap(tf.backend()).memory();
  return memory !== undefined && gatherSumKernels(memory) !== undefined;
}

/**
 * out[b, :] = sum over t of weight[b, t] * table[index[b, t], :], for table [R, C], index (int32)
 * and weight [B, T]: a sparse product, such as RoIAlign's bins from their bilinear taps. The
 * gradient with respect to the table scatters dy[b, :] * weight[b, t] back onto row index[b, t]
 * (rows hit by several taps add up); index and weight are constants (no gradient).
 *
 * On wasm with the SIMD module and C a multiple of 16: one kernel each way, on the kernel pool's
 * threads, with results that do not depend on the thread count (runtime/gather-sum-kernels.ts).
 * Elsewhere: gather, multiply, sum and, for the gradient, ScatterNd (every backend has it; wasm
 * lacks UnsortedSegmentSum, tf.gather's own gradient). Indices outside [0, R) are an error on wasm.
 */
export function gatherWeightedSum(table: Tensor2D, index: Tensor2D, weight: Tensor2D): Tensor2D {
  const [tableRows, cols] = table.shape;
  const [rows, taps] = index.shape;
  if (index.dtype !== 'int32' || !tf.util.arraysEqual(index.shape, weight.shape)) {
    throw new Error(`gatherWeightedSum: expected int32 index and a weight of the same shape [B, T], got ${index.dtype} [${index.shape.join(', ')}] and [${weight.shape.join(', ')}]`);
  }
  const fused = gatherWeightedSumFused(cols);
  const op = tf.customGrad((...args: unknown[]) => {
    const [t, save] = args as [Tensor2D, (tensors: Tensor[]) => void];
    save([index, weight]);
    const value = fused
      ? (tf.engine().runKernel(GATHER, { table: t, index, weight }) as Tensor2D)
      : tf.tidy(() => tf.sum(tf.mul(tf.reshape(tf.gather(t, tf.reshape(index, [-1])), [rows, taps, cols]), tf.reshape(weight, [rows, taps, 1])), 1) as Tensor2D);
    const gradFunc = (dy: Tensor, saved: Tensor[]): Tensor => {
      const [idx, w] = saved as [Tensor2D, Tensor2D];
      if (fused) return tf.engine().runKernel(SCATTER, { dy, index: idx, weight: w }, { tableRows } as unknown as tf.NamedAttrMap) as Tensor;
      return tf.tidy(() => {
        const updates = tf.reshape(tf.mul(tf.reshape(dy, [rows, 1, cols]), tf.reshape(w, [rows, taps, 1])), [rows * taps, cols]);
        return tf.scatterND(tf.reshape(idx, [rows * taps, 1]), updates, [tableRows, cols]);
      });
    };
    return { value, gradFunc };
  });
  return op(table) as Tensor2D;
}
