import { tf } from '../tf.js';
import type { Tensor } from '../tf.js';
import { kernelPool, splitRange } from '../runtime/kernel-pool.js';
import {
  CHUNK_VECTORS,
  type LossTargets,
  sigmoidLossBinary,
  sigmoidLossExport,
  sigmoidLossKernels,
  type LossWeights,
  type SigmoidLossGradFn,
  type SigmoidLossKind,
  type SigmoidLossSumFn,
} from '../runtime/sigmoid-loss-kernels.js';
import { wasmHeap, type WasmHeap } from '../runtime/wasm-internals.js';

type Scalar = tf.Scalar;

/**
 * Fused sigmoid losses on wasm (kernels in runtime/sigmoid-loss-kernels.ts): the sum over a
 * tensor of the sigmoid focal loss (gamma = 2) or of BCE with logits, each element times an
 * optional weight, and its gradient times a scalar, one pass each. Detection's losses call these
 * and take their tfjs composite where they answer undefined (another backend, no WebAssembly
 * SIMD, another gamma, weights of another shape): the composite stays the reference, and the
 * tests hold these to it.
 */
export type FusedSigmoidLoss = { kind: 'focal'; alpha: number; gamma: number } | { kind: 'bce' };

/**
 * Targets: a float tensor of the logits' shape, or (focal loss, logits [..., K] with K a multiple
 * of 4, weights none or per row) one int32 class index per row, t = 1 in that column and 0
 * elsewhere (an index outside [0, K): background, all 0): no [N, K] one-hot to build and upload.
 */
export type FusedTargets = Tensor | { labels: Tensor };

const SUM = 'PartialnetSigmoidLossSum';
const GRAD = 'PartialnetSigmoidLossGrad';

interface LossAttrs {
  kind: SigmoidLossKind;
  alpha: number;
}

/**
 * Elements below which a call stays on one thread: waking the kernel pool costs ~10-30 us, and
 * these kernels take ~2-3 ns per element on one core, so 32k elements are ~80 us.
 */
const PARALLEL_MIN_ELEMENTS = 1 << 15;

/** Where the weights of a call come from: none, one per element, or one per row of `k`. */
function weightsMode(x: tf.TensorInfo, w: tf.TensorInfo | undefined, targets: LossTargets): LossWeights {
  if (!w) return 'none';
  const n = tf.util.sizeFromShape(x.shape);
  if (tf.util.sizeFromShape(w.shape) === n && targets === 'dense') return 'full';
  const k = x.shape[x.shape.length - 1] ?? 1;
  if (w.shape.length === x.shape.length && w.shape[w.shape.length - 1] === 1 && k % 4 === 0 && tf.util.sizeFromShape(w.shape) * k === n) return 'row';
  throw new Error(`${SUM}: weights of shape [${w.shape.join(', ')}] for logits [${x.shape.join(', ')}]: expected the logits' shape or one weight per row with a row length that is a multiple of 4`);
}

/** The kernel's inputs by name: targets t (float, x's shape) or labels (int32, one per row). */
function kernelInputs(kernel: string, inputs: tf.NamedTensorInfoMap): { x: tf.TensorInfo; t: tf.TensorInfo; w?: tf.TensorInfo; targets: LossTargets } {
  const { x, t, labels, w } = inputs as { x: tf.TensorInfo; t?: tf.TensorInfo; labels?: tf.TensorInfo; w?: tf.TensorInfo };
  for (const [name, v] of [['logits', x], ['targets', t], ['weights', w]] as const) {
    if (v && v.dtype !== 'float32') throw new Error(`${kernel}: ${name} must be float32, got ${v.dtype}`);
  }
  if (labels) {
    const k = x.shape[x.shape.length - 1] ?? 1;
    if (labels.dtype !== 'int32') throw new Error(`${kernel}: labels must be int32, got ${labels.dtype}`);
    if (k % 4 !== 0 || tf.util.sizeFromShape(labels.shape) * k !== tf.util.sizeFromShape(x.shape)) {
      throw new Error(`${kernel}: labels [${labels.shape.join(', ')}] for logits [${x.shape.join(', ')}]: expected one per row, rows a multiple of 4 long`);
    }
    return { x, t: labels, w, targets: 'labels' };
  }
  if (!t) throw new Error(`${kernel}: neither targets nor labels given`);
  if (!tf.util.arraysEqual(x.shape, t.shape)) throw new Error(`${kernel}: targets [${t.shape.join(', ')}] do not match logits [${x.shape.join(', ')}]`);
  return { x, t, w, targets: 'dense' };
}

function kernelsOf(heap: WasmHeap, kernel: string) {
  const memory = heap.memory();
  const kernels = memory && sigmoidLossKernels(memory);
  if (!kernels) throw new Error(`${kernel}: the WebAssembly SIMD kernels are not available on this wasm backend`);
  return { memory: memory!, kernels };
}

/**
 * The arguments that put vectors [v0, v1) of a call at their place: x, t (with labels: the label
 * of v0's row), w (in row mode: the weight of v0's row), the count, then rowVectors and firstCol.
 */
function vectorRange(v0: number, v1: number, at: { x: number; t: number; w: number }, mode: LossWeights, targets: LossTargets, k: number): { ptrs: number[]; count: number; row: number[] } {
  const rowOf = Math.floor((4 * v0) / k);
  const w = mode === 'full' ? at.w + 16 * v0 : mode === 'row' ? at.w + 4 * rowOf : at.w;
  const t = targets === 'labels' ? at.t + 4 * rowOf : at.t + 16 * v0;
  const row = mode === 'row' || targets === 'labels' ? [k / 4, ((4 * v0) % k) / 4] : [0, 0];
  return { ptrs: [at.x + 16 * v0, t, w], count: v1 - v0, row };
}

/** float64 log(1 + e^-|x|), the tail's and nothing else's (the kernels do the vectors). */
function log1pExpNeg(x: number): number {
  return Math.log1p(Math.exp(-Math.abs(x)));
}

/** The loss of one element in float64 (the last n % 4 elements, which fill no vector). */
function tailLoss(kind: SigmoidLossKind, alpha: number, x: number, t: number): number {
  const bce = Math.max(x, 0) - x * t + log1pExpNeg(x);
  if (kind === 'bce') return bce;
  const p = 1 / (1 + Math.exp(-x));
  const pt = (1 - p) * t + p * (1 - t);
  return bce * (alpha * t + (1 - alpha) * (1 - t)) * pt * pt;
}

/** d loss / dx of one element in float64 (the tail; see tailLoss). */
function tailGrad(kind: SigmoidLossKind, alpha: number, x: number, t: number): number {
  const p = 1 / (1 + Math.exp(-x));
  const q = 1 / (1 + Math.exp(x));
  if (kind === 'bce') return p * (1 - t) - q * t;
  const logP = -(Math.max(-x, 0) + log1pExpNeg(x));
  const logQ = -(Math.max(x, 0) + log1pExpNeg(x));
  return t * alpha * q * q * (2 * p * logP - q) + (1 - t) * (1 - alpha) * p * p * (p - 2 * q * logQ);
}

const sumKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, t, w, targets } = kernelInputs(SUM, inputs);
  const { kind, alpha } = attrs as unknown as LossAttrs;
  const mode = weightsMode(x, w, targets);
  const heap = wasmHeap(backend);
  const { memory, kernels } = kernelsOf(heap, SUM);
  const n = tf.util.sizeFromShape(x.shape);
  const k = x.shape[x.shape.length - 1] ?? 1;
  const vectors = Math.floor(n / 4);
  const chunks = Math.ceil(vectors / CHUNK_VECTORS);
  const out = heap.makeOutput([], 'float32');
  const partials = chunks > 0 ? heap.makeOutput([4 * chunks], 'float32') : undefined;
  const at = { x: heap.offset(x), t: heap.offset(t), w: w ? heap.offset(w) : 0, out: partials ? heap.offset(partials) : 0 };
  if (chunks > 0) {
    const name = sigmoidLossExport(kind, 'Sum', mode, targets);
    const fn = kernels[name] as SigmoidLossSumFn | undefined;
    if (!fn) throw new Error(`${SUM}: no ${kind} kernel for ${targets} targets with ${mode} weights`);
    const pool = n >= PARALLEL_MIN_ELEMENTS ? kernelPool(memory) : undefined;
    // whole chunks per thread: the partial sums, and so the total, are those of one thread
    const shares = splitRange(chunks, pool ? pool.threads : 1).map(([c0, c1]) => {
      const r = vectorRange(c0 * CHUNK_VECTORS, Math.min(c1 * CHUNK_VECTORS, vectors), at, mode, targets, k);
      return [...r.ptrs, at.out + 16 * c0, r.count, alpha, ...r.row];
    });
    if (pool) pool.run(sigmoidLossBinary(true), name, shares, fn as (...args: number[]) => void);
    else (fn as (...args: number[]) => void)(...shares[0]!);
  }
  const buffer = heap.buffer();
  let sum = 0;
  if (partials) for (const s of new Float32Array(buffer, at.out, 4 * chunks)) sum += s;
  if (4 * vectors < n) {
    const [xs, ts] = [new Float32Array(buffer, at.x, n), new Float32Array(buffer, at.t, n)];
    const ws = w ? new Float32Array(buffer, at.w, n) : undefined;
    for (let i = 4 * vectors; i < n; i++) sum += tailLoss(kind, alpha, xs[i]!, ts[i]!) * (ws ? ws[i]! : 1);
  }
  new Float32Array(buffer, heap.offset(out), 1)[0] = sum;
  if (partials) heap.release(partials);
  return out;
};

const gradKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, t, w, targets } = kernelInputs(GRAD, inputs);
  const scale = inputs.scale as tf.TensorInfo;
  const { kind, alpha } = attrs as unknown as LossAttrs;
  if (scale.dtype !== 'float32' || tf.util.sizeFromShape(scale.shape) !== 1) throw new Error(`${GRAD}: scale must be one float32, got ${scale.dtype} [${scale.shape.join(', ')}]`);
  const mode = weightsMode(x, w, targets);
  const heap = wasmHeap(backend);
  const { memory, kernels } = kernelsOf(heap, GRAD);
  const n = tf.util.sizeFromShape(x.shape);
  const k = x.shape[x.shape.length - 1] ?? 1;
  const vectors = Math.floor(n / 4);
  const dx = heap.makeOutput(x.shape, 'float32');
  const at = { x: heap.offset(x), t: heap.offset(t), w: w ? heap.offset(w) : 0, out: heap.offset(dx) };
  const s = new Float32Array(heap.buffer(), heap.offset(scale), 1)[0]!;
  if (vectors > 0) {
    const name = sigmoidLossExport(kind, 'Grad', mode, targets);
    const fn = kernels[name] as SigmoidLossGradFn | undefined;
    if (!fn) throw new Error(`${GRAD}: no ${kind} kernel for ${targets} targets with ${mode} weights`);
    const pool = n >= PARALLEL_MIN_ELEMENTS ? kernelPool(memory) : undefined;
    const shares = splitRange(vectors, pool ? pool.threads : 1).map(([v0, v1]) => {
      const r = vectorRange(v0, v1, at, mode, targets, k);
      return [...r.ptrs, at.out + 16 * v0, r.count, alpha, s, ...r.row];
    });
    if (pool) pool.run(sigmoidLossBinary(true), name, shares, fn as (...args: number[]) => void);
    else (fn as (...args: number[]) => void)(...shares[0]!);
  }
  if (4 * vectors < n) {
    const buffer = heap.buffer();
    const [xs, ts, out] = [new Float32Array(buffer, at.x, n), new Float32Array(buffer, at.t, n), new Float32Array(buffer, at.out, n)];
    const ws = w ? new Float32Array(buffer, at.w, n) : undefined;
    for (let i = 4 * vectors; i < n; i++) out[i] = tailGrad(kind, alpha, xs[i]!, ts[i]!) * s * (ws ? ws[i]! : 1);
  }
  return dx;
};

/** Whether the wasm kernels are worth using now (only with the SIMD module: wasm-kernels.ts says). */
let worthUsing: (() => boolean) | undefined;

/** Registers the wasm kernels; `use` says whether the fused functions should take them now. */
export function registerSigmoidLossKernels(use: () => boolean): void {
  worthUsing = use;
  if (!tf.getKernel(SUM, 'wasm')) tf.registerKernel({ kernelName: SUM, backendName: 'wasm', kernelFunc: sumKernel });
  if (!tf.getKernel(GRAD, 'wasm')) tf.registerKernel({ kernelName: GRAD, backendName: 'wasm', kernelFunc: gradKernel });
}

export function unregisterSigmoidLossKernels(): void {
  for (const name of [SUM, GRAD]) if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
}

/**
 * Whether fusedSigmoidLossSum / fusedSigmoidLossGrad take these inputs now: wasm with its SIMD
 * module, gamma = 2 for the focal loss, float32 logits and weights, at least one element; targets
 * of the logits' shape (float32) or labels (see FusedTargets); weights none, of the logits' shape
 * (not with labels) or one per row ([..., 1]). Elsewhere they answer undefined and the caller
 * keeps its composite (a caller that must choose before it computes asks here).
 */
export function fusedSigmoidLossApplies(x: Tensor, t: FusedTargets, w: Tensor | null, loss: FusedSigmoidLoss): boolean {
  if (tf.getBackend() !== 'wasm' || !tf.getKernel(SUM, 'wasm') || !(worthUsing?.() ?? false)) return false;
  if (loss.kind === 'focal' && loss.gamma !== 2) return false;
  if (x.dtype !== 'float32' || (w && w.dtype !== 'float32')) return false;
  // an empty tensor has no heap offset to hand a kernel
  if (x.size === 0) return false;
  if ('labels' in t) {
    const k = x.rank > 0 ? x.shape[x.rank - 1]! : 1;
    if (loss.kind !== 'focal' || t.labels.dtype !== 'int32' || k % 4 !== 0 || t.labels.size * k !== x.size) return false;
    if (w && !perRow(x, w)) return false;
  } else {
    if (t.dtype !== 'float32' || !tf.util.arraysEqual(x.shape, t.shape)) return false;
    if (w && !tf.util.arraysEqual(w.shape, x.shape) && !perRow(x, w)) return false;
  }
  const memory = wasmHeap(tf.backend()).memory();
  return memory !== undefined && sigmoidLossKernels(memory) !== undefined;
}

/** Whether w is one weight per row of x ([..., 1] against [..., K]). */
function perRow(x: Tensor, w: Tensor): boolean {
  const rank = x.rank;
  return rank > 0 && w.rank === rank && w.shape[rank - 1] === 1 && w.shape.slice(0, -1).every((d, i) => d === x.shape[i]);
}

/**
 * The kernels' inputs, or undefined where they do not apply (fusedSigmoidLossApplies). Row
 * weights for rows that are not a multiple of 4 long are broadcast to the logits' shape (the one
 * case that costs a pass more).
 */
function fusedInputs(x: Tensor, t: FusedTargets, w: Tensor | null, loss: FusedSigmoidLoss): { inputs: Record<string, Tensor>; attrs: LossAttrs; owned: Tensor[] } | undefined {
  if (!fusedSigmoidLossApplies(x, t, w, loss)) return undefined;
  const attrs: LossAttrs = { kind: loss.kind, alpha: loss.kind === 'focal' ? loss.alpha : 0 };
  const targets: Record<string, Tensor> = 'labels' in t ? { labels: t.labels } : { t };
  if (!w || tf.util.arraysEqual(w.shape, x.shape) || x.shape[x.rank - 1]! % 4 === 0) return { inputs: w ? { x, ...targets, w } : { x, ...targets }, attrs, owned: [] };
  const full = tf.broadcastTo(w, x.shape);
  return { inputs: { x, ...targets, w: full }, attrs, owned: [full] };
}

/**
 * sum(loss(x, t) * w) as a float32 scalar (accumulated in float32 over 1024 elements, then in
 * float64), or undefined where the fused kernels do not apply (see fusedInputs): the caller then
 * computes its composite. `w` is null, of x's shape, or one weight per row ([..., 1]).
 */
export function fusedSigmoidLossSum(x: Tensor, t: FusedTargets, w: Tensor | null, loss: FusedSigmoidLoss): Scalar | undefined {
  const fused = fusedInputs(x, t, w, loss);
  if (!fused) return undefined;
  const out = tf.engine().runKernel(SUM, fused.inputs as unknown as tf.NamedTensorMap, fused.attrs as unknown as tf.NamedAttrMap) as Scalar;
  tf.dispose(fused.owned);
  return out;
}

/**
 * scale * w * d loss(x, t) / dx (the closed form for binary targets, as detection's focalGrad),
 * or undefined where the fused kernels do not apply (see fusedInputs). `scale` is a scalar tensor
 * (the incoming gradient over the average factor).
 */
export function fusedSigmoidLossGrad(x: Tensor, t: FusedTargets, w: Tensor | null, scale: Scalar, loss: FusedSigmoidLoss): Tensor | undefined {
  const fused = fusedInputs(x, t, w, loss);
  if (!fused) return undefined;
  const s = scale.dtype === 'float32' ? scale : tf.cast(scale, 'float32');
  const out = tf.engine().runKernel(GRAD, { ...fused.inputs, scale: s } as unknown as tf.NamedTensorMap, fused.attrs as unknown as tf.NamedAttrMap) as Tensor;
  tf.dispose(fused.owned);
  if (s !== scale) s.dispose();
  return out;
}
