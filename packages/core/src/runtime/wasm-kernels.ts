import { tf } from '../tf.js';
import { registerFlipFilterKernel } from '../ops/flip-filter.js';
import { registerMatMulTNKernel, unregisterMatMulTNKernel } from '../ops/matmul-tn.js';
import { registerOptimizerKernels, unregisterOptimizerKernels } from '../optim/fused-update.js';
import { registerSigmoidLossKernels, unregisterSigmoidLossKernels } from '../ops/sigmoid-losses.js';
import { registerGatherSumKernels, unregisterGatherSumKernels } from '../ops/gather-weighted-sum.js';
import { registerWinogradKernels, unregisterWinogradKernels } from '../ops/winograd.js';
import { registerBatchNormKernels, unregisterBatchNormKernels } from '../nn/batch-norm-kernels.js';
import { registerChannelStyleKernels, unregisterChannelStyleKernels } from '../ops/channel-style.js';
import { assertFloat32, registerGeluKernelsFor, unregisterGeluKernels, GELU_GRAD_KERNEL, GELU_KERNEL } from '../nn/gelu-kernels.js';
import { geluGradLoop, geluLoop } from '../nn/gelu-math.js';
import { instantiateSimdKernels, simdKernelsBinary, type SimdKernels } from './simd-kernels.js';
import { kernelPool, splitRange } from './kernel-pool.js';
import { batchMatMul, planBatchMatMul, transposeLastTwo } from './wasm-matmul.js';
import { bytesPerElement, concat, copyRowsJs, gather, padSpatial, slice, splitV, swapAdjacentAxes, type CopyGrid, type CopyRows } from './wasm-copy-kernels.js';
import { wasmHeap, type WasmHeap } from './wasm-internals.js';
import { useRelaxedSimd } from './relaxed-simd.js';
import type { WasmMemory } from './webassembly.js';

/**
 * Kernel overrides and additions for tfjs-backend-wasm (all use its internals through
 * wasm-internals.ts).
 *
 * Identity: tfjs saves every tensor a gradient needs with `keep(clone(t))`, and clone runs the
 * Identity kernel. The wasm kernel allocates and copies the whole buffer, so under a gradient
 * tape each saved activation existed twice (and training steps spent time copying them); the cpu
 * backend shares the data. Tensors are immutable, so sharing is safe: this one takes a reference
 * the way wasm's own Reshape does.
 *
 * SplitV, Concat, Slice: strided row copies (wasm-copy-kernels.ts) instead of one JavaScript
 * `subarray` + `set` per pixel. Their gradients are each other (and Pad), so training uses them too.
 *
 * GatherV2 (no batch dims): one row copy per index instead of wasm's element-by-element loop
 * (RoIAlign gathers millions of feature rows per Mask R-CNN step).
 *
 * BatchMatMul: batches of matrices and transposed operands, which the stock kernel leaves to a
 * scalar loop, in the SIMD module's tiled product (wasm-matmul.ts); single products go to the
 * stock kernel (XNNPACK) as before. Transpose of the last two axes: a blocked copy in the SIMD
 * module (the stock one is ~4 ns per element on tall matrices: weight gradients).
 *
 * PartialnetGelu / PartialnetGeluGrad: exact GELU forward and backward in one pass each (the
 * composite is Multiply, Erf, Add, Multiply forward and five more passes backward).
 *
 * PartialnetSigmoidLossSum / PartialnetSigmoidLossGrad (ops/sigmoid-losses.ts): the sigmoid focal
 * loss and BCE with logits, summed, and their gradients, one pass each.
 *
 * PartialnetChannelStyle / PartialnetChannelGate and their gradients (ops/channel-style.ts): PAT_ch's
 * per-image channel mean and std and its channel gate, one pass per kernel.
 *
 * The copies and GELU run in a small WebAssembly SIMD module that imports the backend's memory
 * (simd-kernels.ts); where it cannot be instantiated, JavaScript loops do the copies (still far
 * faster than the stock kernels) and `gelu()` goes back to the composite.
 */

const OVERRIDDEN = ['SplitV', 'Concat', 'Slice', 'PadV2', 'GatherV2', 'Add', 'BatchMatMul', '_FusedMatMul', 'Transpose'] as const;
/** The package's own kernels, captured once before the first override (for strings, and for tests). */
const stock = new Map<string, tf.KernelConfig>();

let simdAllowed = true;
/** The module instantiated on each memory, and whether it was built with relaxed_madd. */
const simdByMemory = new WeakMap<WasmMemory, { fma: boolean; kernels: SimdKernels | null }>();

function simd(heap: WasmHeap): SimdKernels | undefined {
  if (!simdAllowed) return undefined;
  const memory = heap.memory();
  if (!memory) return undefined;
  const fma = useRelaxedSimd();
  let entry = simdByMemory.get(memory);
  if (entry === undefined || entry.fma !== fma) {
    entry = { fma, kernels: instantiateSimdKernels(memory) ?? null };
    simdByMemory.set(memory, entry);
  }
  return entry.kernels ?? undefined;
}

/** Whether the wasm backend's kernels here run in the SIMD module (true) or the JavaScript fallback. */
export function wasmSimdKernelsActive(): boolean {
  const backend = tf.findBackend('wasm');
  return backend !== null && simd(wasmHeap(backend)) !== undefined;
}

/**
 * Whether BatchMatMul on wasm runs a @ b with these flags in the SIMD module now (else the stock
 * kernel does: fast without flags, slow with them).
 */
export function wasmMatMulTakes(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): boolean {
  return wasmSimdKernelsActive() && tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc === batchMatMulKernel && planBatchMatMul(a, b, transposeA, transposeB) !== undefined;
}

/** Tests: force the JavaScript fallback (false) or allow the SIMD module again (true). */
export function allowWasmSimdKernels(allowed: boolean): void {
  simdAllowed = allowed;
}

/**
 * Bytes a copy must move to go out on the kernel pool (in bands of rows): below, waking the pool
 * (~50-100 us on a VM) costs more than the second core's share of the copy saves.
 */
const COPY_PARALLEL_MIN_BYTES = 1 << 21;

const copyRows: CopyRows = (heap, src, srcStride, dst, dstStride, rowBytes, rows) => {
  const kernels = simd(heap);
  if (!kernels) return copyRowsJs(heap.buffer(), src, srcStride, dst, dstStride, rowBytes, rows);
  const pool = rows >= 2 && rowBytes * rows >= COPY_PARALLEL_MIN_BYTES ? kernelPool(heap.memory()!) : undefined;
  if (!pool) return kernels.copyRows(src, srcStride, dst, dstStride, rowBytes, rows);
  const shares = splitRange(rows, pool.threads).map(([r0, r1]) => [src + r0 * srcStride, srcStride, dst + r0 * dstStride, dstStride, rowBytes, r1 - r0]);
  pool.run(simdKernelsBinary(true), 'copyRows', shares, kernels.copyRows);
};

/**
 * copyRows over a grid in one call; from 2 MiB on the kernel pool, split at the outermost level
 * with a part for every thread (outers, else mids, else rows; a slice of channels is one grid
 * of many rows).
 */
const copyGrid: CopyGrid = (heap, src, [sOuter, sMid, sRow], dst, [dOuter, dMid, dRow], rowBytes, [outers, mids, rows]) => {
  const kernels = simd(heap);
  if (!kernels) {
    for (let o = 0; o < outers; o++) {
      for (let i = 0; i < mids; i++) copyRowsJs(heap.buffer(), src + o * sOuter + i * sMid, sRow, dst + o * dOuter + i * dMid, dRow, rowBytes, rows);
    }
    return;
  }
  const grid = (s: number, d: number, o: number, m: number, r: number): Parameters<SimdKernels['copyGrid']> => [s, sOuter, sMid, sRow, d, dOuter, dMid, dRow, rowBytes, r, m, o];
  const pool = rowBytes * rows * mids * outers >= COPY_PARALLEL_MIN_BYTES ? kernelPool(heap.memory()!) : undefined;
  const threads = pool?.threads ?? 1;
  let shares: Parameters<SimdKernels['copyGrid']>[] | undefined;
  if (outers >= threads) shares = splitRange(outers, threads).map(([a, b]) => grid(src + a * sOuter, dst + a * dOuter, b - a, mids, rows));
  else if (outers === 1 && mids >= threads) shares = splitRange(mids, threads).map(([a, b]) => grid(src + a * sMid, dst + a * dMid, 1, b - a, rows));
  else if (outers === 1 && mids === 1 && rows >= threads) shares = splitRange(rows, threads).map(([a, b]) => grid(src + a * sRow, dst + a * dRow, 1, 1, b - a));
  if (!pool || !shares || shares.length < 2) return kernels.copyGrid(...grid(src, dst, outers, mids, rows));
  pool.run(simdKernelsBinary(true), 'copyGrid', shares, kernels.copyGrid as (...args: number[]) => void);
};

/** Bytes below which an elementwise kernel stays on one thread (waking the pool costs ~10-30 us). */
const ELEMENTWISE_PARALLEL_MIN_BYTES = 1 << 19;

/**
 * An elementwise SIMD kernel over `bytes` bytes (a multiple of 16) at `pointers` (all advanced
 * alike), in 16-byte-aligned ranges on the kernel pool's threads where the memory is shared and
 * the call is large enough: every element gets the same arithmetic as on one thread.
 */
function elementwise(heap: WasmHeap, kernels: SimdKernels, name: 'gelu' | 'geluGrad' | 'add', pointers: number[], bytes: number): void {
  const fn = kernels[name] as (...args: number[]) => void;
  const pool = bytes >= ELEMENTWISE_PARALLEL_MIN_BYTES ? kernelPool(heap.memory()!) : undefined;
  if (!pool) return fn(...pointers, bytes);
  const shares = splitRange(bytes / 16, pool.threads).map(([s, e]) => [...pointers.map((p) => p + 16 * s), 16 * (e - s)]);
  pool.run(simdKernelsBinary(true), name, shares, fn);
}

const geluForward: tf.KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as tf.TensorInfo;
  assertFloat32(GELU_KERNEL, x);
  const heap = wasmHeap(backend);
  const out = heap.makeOutput(x.shape, 'float32');
  const n = tf.util.sizeFromShape(x.shape);
  const kernels = simd(heap);
  const vectors = kernels ? n - (n % 4) : 0;
  if (vectors > 0) elementwise(heap, kernels!, 'gelu', [heap.offset(x), heap.offset(out)], vectors * 4);
  if (vectors < n) {
    const buffer = heap.buffer();
    geluLoop(new Float32Array(buffer, heap.offset(x), n), new Float32Array(buffer, heap.offset(out), n), vectors, n);
  }
  return out;
};

const geluBackward: tf.KernelFunc = ({ inputs, backend }) => {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  assertFloat32(GELU_GRAD_KERNEL, x, dy);
  const heap = wasmHeap(backend);
  const out = heap.makeOutput(x.shape, 'float32');
  const n = tf.util.sizeFromShape(x.shape);
  const kernels = simd(heap);
  const vectors = kernels ? n - (n % 4) : 0;
  if (vectors > 0) elementwise(heap, kernels!, 'geluGrad', [heap.offset(x), heap.offset(dy), heap.offset(out)], vectors * 4);
  if (vectors < n) {
    const buffer = heap.buffer();
    const view = (t: tf.TensorInfo): Float32Array => new Float32Array(buffer, heap.offset(t), n);
    geluGradLoop(view(x), view(dy), view(out), vectors, n);
  }
  return out;
};

/**
 * Replaces a wasm kernel, keeping the stock one's setupFunc on the replacement: the backend runs
 * it when it initialises, and other stock kernels call into what it sets up (Sum, Max, Mean...
 * transpose through Transpose's, which is undefined until its setup ran).
 */
function override(kernelName: string, kernelFunc: tf.KernelFunc): void {
  const current = tf.getKernel(kernelName, 'wasm');
  if (current && !stock.has(kernelName)) stock.set(kernelName, current);
  if (current) tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc, setupFunc: stock.get(kernelName)?.setupFunc });
}

/** Stock kernels whose setup (their cwrap of the C++ entry) has run here. */
const setUp = new Set<string>();

/**
 * The stock kernel, for what the overrides leave to it (string tensors, batched gathers). One
 * replaced before the backend initialised never ran its setup: run it on first use.
 */
function stockKernel(name: string): tf.KernelFunc {
  const config = stock.get(name);
  if (!config) throw new Error(`tfjs-backend-wasm registered no ${name} kernel to fall back to`);
  return (args) => {
    if (config.setupFunc && !setUp.has(name)) {
      config.setupFunc(args.backend);
      setUp.add(name);
    }
    return config.kernelFunc(args);
  };
}

const batchMatMulKernel: tf.KernelFunc = (args) => {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  const heap = wasmHeap(args.backend);
  const kernels = simd(heap);
  const plan = kernels ? planBatchMatMul(a, b, transposeA, transposeB) : undefined;
  if (!plan) return stockKernel('BatchMatMul')(args);
  return batchMatMul(heap, kernels!, a, b, transposeA, transposeB, plan);
};

/**
 * tf.fused.matMul (1x1 convolutions and linears with a bias): our kernel adds the bias as its sums'
 * starting values where it takes the product (batchMatMul's plan: with relaxed SIMD that includes
 * single plain products) and there is no activation; everything else stays with the stock kernel.
 */
const fusedMatMulKernel: tf.KernelFunc = (args) => {
  const { a, b, bias, preluActivationWeights } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo; preluActivationWeights?: tf.TensorInfo };
  const { transposeA, transposeB, activation } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean; activation?: string };
  const heap = wasmHeap(args.backend);
  const kernels = simd(heap);
  const plan = kernels && (activation ?? 'linear') === 'linear' && !preluActivationWeights ? planBatchMatMul(a, b, transposeA, transposeB) : undefined;
  const n = plan?.n;
  // one bias value per output column: [N], [1, N], ...
  const rowBias = !bias || (bias.dtype === 'float32' && bias.shape[bias.shape.length - 1] === n && tf.util.sizeFromShape(bias.shape) === n);
  if (!plan || !rowBias) return stockKernel('_FusedMatMul')(args);
  return batchMatMul(heap, kernels!, a, b, transposeA, transposeB, plan, bias);
};

/** Registers the overrides and the fused GELU for the wasm backend (idempotent). */
export function registerWasmKernelOverrides(): void {
  registerFlipFilterKernel();
  registerWinogradKernels();
  registerMatMulTNKernel();
  registerOptimizerKernels();
  registerBatchNormKernels();
  registerChannelStyleKernels();
  override('Identity', ({ inputs, backend }) => wasmHeap(backend).share(inputs.x as tf.TensorInfo));
  const usable = (dtype: tf.DataType): boolean => bytesPerElement(dtype) !== undefined;
  override('SplitV', (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (!usable(x.dtype)) return stockKernel('SplitV')(args);
    const { numOrSizeSplits, axis } = args.attrs as unknown as tf.SplitVAttrs;
    return splitV(wasmHeap(args.backend), copyRows, x, numOrSizeSplits, axis);
  });
  override('Concat', (args) => {
    const inputs = Object.values(args.inputs) as tf.TensorInfo[];
    if (inputs.length === 0 || !usable(inputs[0]!.dtype)) return stockKernel('Concat')(args);
    return concat(wasmHeap(args.backend), copyRows, inputs, (args.attrs as unknown as tf.ConcatAttrs).axis);
  });
  override('GatherV2', (args) => {
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as unknown as tf.GatherV2Attrs;
    if (!usable(x.dtype) || indices.dtype !== 'int32' || (batchDims ?? 0) !== 0) return stockKernel('GatherV2')(args);
    return gather(wasmHeap(args.backend), x, indices, axis);
  });
  override('Slice', (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (!usable(x.dtype)) return stockKernel('Slice')(args);
    const { begin, size } = args.attrs as unknown as tf.SliceAttrs;
    return slice(wasmHeap(args.backend), copyGrid, x, begin, size);
  });
  override('PadV2', (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const { paddings, constantValue } = args.attrs as unknown as tf.PadV2Attrs;
    return padSpatial(wasmHeap(args.backend), copyGrid, x, paddings, constantValue) ?? stockKernel('PadV2')(args);
  });
  override('Add', (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const heap = wasmHeap(args.backend);
    const kernels = simd(heap);
    const n = tf.util.sizeFromShape(a.shape);
    // a large same-shape float32 sum (a residual, a gradient accumulated over two uses) on the
    // kernel pool; XNNPACK's add is as fast on one thread, and everything else stays with it
    const pooled = kernels && a.dtype === 'float32' && b.dtype === 'float32' && tf.util.arraysEqual(a.shape, b.shape) && n % 4 === 0 && 4 * n >= ELEMENTWISE_PARALLEL_MIN_BYTES && kernelPool(heap.memory()!);
    if (!pooled) return stockKernel('Add')(args);
    const out = heap.makeOutput(a.shape, 'float32');
    elementwise(heap, kernels, 'add', [heap.offset(a), heap.offset(b), heap.offset(out)], 4 * n);
    return out;
  });
  override('BatchMatMul', batchMatMulKernel);
  override('_FusedMatMul', fusedMatMulKernel);
  override('Transpose', (args) => {
    const heap = wasmHeap(args.backend);
    const kernels = simd(heap);
    const x = args.inputs.x as tf.TensorInfo;
    const { perm } = args.attrs as unknown as tf.TransposeAttrs;
    const out = (kernels ? transposeLastTwo(heap, kernels, x, perm) : undefined) ?? swapAdjacentAxes(heap, copyGrid, x, perm);
    return out ?? stockKernel('Transpose')(args);
  });
  // Without the SIMD module the JavaScript loops are slower than tfjs's C++ Erf composite
  // (measured about 2x): gelu() then takes the composite, and the kernels serve only direct calls.
  registerGeluKernelsFor('wasm', geluForward, geluBackward, wasmSimdKernelsActive);
  // the focal / BCE losses have no JavaScript fallback: without the SIMD module, the composite
  registerSigmoidLossKernels(wasmSimdKernelsActive);
  // RoIAlign's weighted row sums and their scatter: without the SIMD module, the composite
  registerGatherSumKernels(wasmSimdKernelsActive);
}

/**
 * Puts tfjs-backend-wasm's own SplitV, Concat, Slice, PadV2, GatherV2, Add, BatchMatMul, _FusedMatMul and
 * Transpose back and removes the fused GELU, the Winograd convolution, the a^T b kernels, the
 * fused optimizer updates, the BatchNorm training kernels, the sigmoid loss kernels, the
 * weighted row gather and the channel style / gate kernels (3x3 convolutions go back to tfjs's
 * conv2d; optimizers, BatchNorm, the losses, RoIAlign's sums and channelStyle / channelGate to
 * their composites; the Identity override stays): for tests and before/after measurements
 * (PARTIALNET_STOCK_KERNELS=1).
 */
export function restoreStockWasmKernels(): void {
  for (const name of OVERRIDDEN) {
    const config = stock.get(name);
    if (!config) continue;
    if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(config);
    // a stock kernel replaced before the backend initialised never ran its setup (its cwrap)
    const backend = tf.findBackend('wasm');
    if (config.setupFunc && backend) config.setupFunc(backend);
  }
  unregisterGeluKernels('wasm');
  unregisterWinogradKernels();
  unregisterMatMulTNKernel();
  unregisterOptimizerKernels();
  unregisterBatchNormKernels();
  unregisterSigmoidLossKernels();
  unregisterGatherSumKernels();
  unregisterChannelStyleKernels();
}
