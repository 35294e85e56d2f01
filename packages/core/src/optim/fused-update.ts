import { tf } from '../tf.js';
import type { Tensor } from '../tf.js';
import { kernelPool, splitRange } from '../runtime/kernel-pool.js';
import { adamwTail, optimizerKernels, optimizerKernelsBinary, sgdKernelName, sgdTail, type AdamWArgs, type OptimizerKernels, type SGDArgs, type SGDVariant } from '../runtime/optimizer-kernels.js';
import { wasmHeap, type WasmHeap } from '../runtime/wasm-internals.js';

/**
 * AdamW's and SGD's updates as one kernel call per parameter on tfjs-backend-wasm (the SIMD
 * module in runtime/optimizer-kernels.ts), bit-identical to the composite of stock kernels that
 * optimizer.ts runs everywhere else. The kernels write new tensors, which the optimizer
 * `assign`s: a variable's buffer may be shared with other tensors (wasm's Reshape and Identity
 * share data ids; SGD's first momentum buffer is the gradient itself), so nothing is updated in
 * place.
 */

const ADAMW_KERNEL = 'PartialnetAdamW';
const SGD_KERNEL = 'PartialnetSGD';

/**
 * AdamW's per-step scalars as the composite computes them in float64; each becomes float32 where
 * it is used (a tf scalar there, a float32 kernel argument here), so both paths round the same
 * numbers.
 */
export interface AdamWScalars {
  beta1: number;
  /** 1 - beta1, rounded as a whole (not 1 - float32(beta1)). */
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  /** sqrt(1 - beta2^t). */
  biasCorrection2: number;
  eps: number;
  /** 1 - lr wd; undefined when wd = 0 (the parameter is used as it is, not multiplied by 1). */
  decay: number | undefined;
  /** lr / (1 - beta1^t). */
  stepSize: number;
}

/** SGD's per-step scalars (see AdamWScalars for their rounding). */
export interface SGDScalars {
  /** Undefined when 0 (no decay term). */
  weightDecay: number | undefined;
  /** Undefined when 0 (no momentum buffer). */
  momentum: number | undefined;
  /** 1 - dampening. */
  oneMinusDampening: number;
  nesterov: boolean;
  lr: number;
}

/**
 * Values below which a call stays on one thread: waking the kernel pool costs ~10-30 us, about
 * what 32k values of AdamW take here (~1 ns each on one core).
 */
const PARALLEL_MIN_VALUES = 1 << 15;

function kernelsOn(heap: WasmHeap, what: string): OptimizerKernels {
  const memory = heap.memory();
  const kernels = memory && optimizerKernels(memory);
  if (!kernels) throw new Error(`${what}: the WebAssembly SIMD kernels are not available on this wasm backend`);
  return kernels;
}

/**
 * Runs export `name` over `n` float32 values at `pointers` (bytes; every pointer advanced alike)
 * with `scalars` after the length: whole vectors in the SIMD module, split into 16-byte-aligned
 * ranges on the kernel pool's threads when the memory is shared and the call large enough (every
 * element gets the same operations on any thread). Returns how many values it covered (the
 * caller does the rest, n % 4, in scalar code).
 */
function runVectors(heap: WasmHeap, kernels: OptimizerKernels, name: string, pointers: number[], n: number, scalars: readonly number[]): number {
  const vectors = Math.floor(n / 4);
  if (vectors === 0) return 0;
  const fn = kernels[name]!;
  const pool = n >= PARALLEL_MIN_VALUES ? kernelPool(heap.memory()!) : undefined;
  if (!pool) {
    fn(...pointers, 16 * vectors, ...scalars);
  } else {
    const shares = splitRange(vectors, pool.threads).map(([s, e]) => [...pointers.map((p) => p + 16 * s), 16 * (e - s), ...scalars]);
    pool.run(optimizerKernelsBinary(true), name, shares, fn);
  }
  return 4 * vectors;
}

function checkOperands(kernel: string, param: tf.TensorInfo, others: Record<string, tf.TensorInfo>): number {
  const n = tf.util.sizeFromShape(param.shape);
  for (const [name, t] of Object.entries({ param, ...others })) {
    if (t.dtype !== 'float32') throw new Error(`${kernel}: ${name} must be float32, got ${t.dtype}`);
    if (tf.util.sizeFromShape(t.shape) !== n) throw new Error(`${kernel}: ${name} has shape [${t.shape.join(', ')}], param [${param.shape.join(', ')}]`);
  }
  return n;
}

const adamwKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { param, grad, expAvg, expAvgSq } = inputs as Record<'param' | 'grad' | 'expAvg' | 'expAvgSq', tf.TensorInfo>;
  const n = checkOperands(ADAMW_KERNEL, param, { grad, expAvg, expAvgSq });
  const s = attrs as unknown as AdamWScalars;
  const heap = wasmHeap(backend);
  const kernels = kernelsOn(heap, ADAMW_KERNEL);
  const outs = [param, expAvg, expAvgSq].map(() => heap.makeOutput(param.shape, 'float32')) as [tf.TensorInfo, tf.TensorInfo, tf.TensorInfo];
  const withDecay = s.decay !== undefined;
  const args: AdamWArgs = [s.beta1, s.oneMinusBeta1, s.beta2, s.oneMinusBeta2, s.biasCorrection2, s.eps, s.decay ?? 1, s.stepSize];
  const operands = [param, grad, expAvg, expAvgSq, ...outs];
  const done = runVectors(heap, kernels, withDecay ? 'adamwDecay' : 'adamw', operands.map((t) => heap.offset(t)), n, args);
  if (done < n) {
    const buffer = heap.buffer();
    const [p, g, m, v, pOut, mOut, vOut] = operands.map((t) => new Float32Array(buffer, heap.offset(t), n)) as Float32Array[];
    adamwTail(p!, g!, m!, v!, pOut!, mOut!, vOut!, done, n, args, withDecay);
  }
  return outs;
};

function sgdVariant(s: SGDScalars & { first: boolean }): SGDVariant {
  return { decay: s.weightDecay !== undefined, momentum: s.momentum === undefined ? 'none' : s.first ? 'first' : 'later', nesterov: s.nesterov };
}

const sgdKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { param, grad, buf } = inputs as { param: tf.TensorInfo; grad: tf.TensorInfo; buf?: tf.TensorInfo };
  const s = attrs as unknown as SGDScalars & { first: boolean };
  const variant = sgdVariant(s);
  if (variant.momentum === 'later' && !buf) throw new Error(`${SGD_KERNEL}: momentum after the first step needs the momentum buffer`);
  const n = checkOperands(SGD_KERNEL, param, variant.momentum === 'later' ? { grad, buf: buf! } : { grad });
  const heap = wasmHeap(backend);
  const kernels = kernelsOn(heap, SGD_KERNEL);
  const pOut = heap.makeOutput(param.shape, 'float32');
  const bufOut = variant.momentum !== 'none' ? heap.makeOutput(param.shape, 'float32') : undefined;
  const bufIn = variant.momentum === 'later' ? buf : undefined;
  const args: SGDArgs = [s.weightDecay ?? 0, s.momentum ?? 0, s.oneMinusDampening, s.lr];
  // a buffer the variant does not touch is passed as address 0
  const at = (t: tf.TensorInfo | undefined): number => (t ? heap.offset(t) : 0);
  const done = runVectors(heap, kernels, sgdKernelName(variant), [at(param), at(grad), at(bufIn), at(pOut), at(bufOut)], n, args);
  if (done < n) {
    const buffer = heap.buffer();
    const view = (t: tf.TensorInfo | undefined): Float32Array | undefined => (t ? new Float32Array(buffer, heap.offset(t), n) : undefined);
    sgdTail(view(param)!, view(grad)!, view(bufIn), view(pOut)!, view(bufOut), done, n, args, variant);
  }
  return bufOut ? [pOut, bufOut] : [pOut];
};

/** Registers the fused updates on wasm (wasm-kernels.ts does, with its other kernels; idempotent). */
export function registerOptimizerKernels(): void {
  if (!tf.getKernel(ADAMW_KERNEL, 'wasm')) tf.registerKernel({ kernelName: ADAMW_KERNEL, backendName: 'wasm', kernelFunc: adamwKernel });
  if (!tf.getKernel(SGD_KERNEL, 'wasm')) tf.registerKernel({ kernelName: SGD_KERNEL, backendName: 'wasm', kernelFunc: sgdKernel });
}

/** Removes them: the optimizers take the composite again (tests, before/after measurements). */
export function unregisterOptimizerKernels(): void {
  for (const name of [ADAMW_KERNEL, SGD_KERNEL]) if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
}

/** Whether `kernel` runs here now: the wasm backend is active, has it registered and the SIMD module. */
function fusedAvailable(kernel: string, tensors: Tensor[]): boolean {
  if (tf.getBackend() !== 'wasm' || !tf.getKernel(kernel, 'wasm')) return false;
  if (tensors.some((t) => t.dtype !== 'float32')) return false;
  const memory = wasmHeap(tf.backend()).memory();
  return memory !== undefined && optimizerKernels(memory) !== undefined;
}

/**
 * AdamW's new [param, expAvg, expAvgSq] in one kernel, or undefined where the composite must run
 * (another backend, the kernel unregistered, no SIMD module, a dtype other than float32).
 */
export function fusedAdamW(param: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor, s: AdamWScalars): [Tensor, Tensor, Tensor] | undefined {
  if (!fusedAvailable(ADAMW_KERNEL, [param, grad, expAvg, expAvgSq])) return undefined;
  const attrs = { ...s } as unknown as tf.NamedAttrMap;
  return tf.engine().runKernel(ADAMW_KERNEL, { param, grad, expAvg, expAvgSq }, attrs) as unknown as [Tensor, Tensor, Tensor];
}

/**
 * SGD's new parameter and momentum buffer (undefined without momentum) in one kernel, or
 * undefined where the composite must run. `buf` is the momentum buffer, undefined on the first
 * step (the buffer then starts as the update direction, as in torch.optim.SGD).
 */
export function fusedSGD(param: Tensor, grad: Tensor, buf: Tensor | undefined, s: SGDScalars): { param: Tensor; buf: Tensor | undefined } | undefined {
  if (!fusedAvailable(SGD_KERNEL, buf ? [param, grad, buf] : [param, grad])) return undefined;
  const attrs = { ...s, first: buf === undefined } as unknown as tf.NamedAttrMap;
  const inputs: tf.NamedTensorMap = buf && s.momentum !== undefined ? { param, grad, buf } : { param, grad };
  const [p1, buf1] = tf.engine().runKernel(SGD_KERNEL, inputs, attrs) as unknown as Tensor[];
  return { param: p1!, buf: buf1 };
}
