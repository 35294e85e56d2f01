import { tf } from '../tf.js';
import type { Tensor, Tensor1D, Tensor2D, Tensor4D } from '../tf.js';
import { spatialSum } from './channel-ops.js';
import { channelStyleSimd, channelStyleSimdBinary, type ChannelStyleSimd } from '../runtime/channel-style-simd.js';
import { kernelPool, splitRange, type KernelPool } from '../runtime/kernel-pool.js';
import { wasmHeap, type WasmHeap } from '../runtime/wasm-internals.js';

/**
 * SRM-style channel statistics and the channel gate that uses them (PartialNet's PAT_ch), as two
 * differentiable ops. On wasm they run as SIMD kernels (runtime/channel-style-simd.ts) on the
 * kernel pool's threads, one pass per kernel: the composite they replace is a dozen stock,
 * single-threaded kernels forward and more backward (AvgPool, Sub, Square, Sqrt, Concat, a
 * broadcast Multiply; Sum over H and W, broadcast Multiply, OnesLike... for the gradients).
 * Elsewhere, and on wasm without WebAssembly SIMD or with the kernels unregistered
 * (restoreStockWasmKernels), they are that composite, which stays the reference the tests hold
 * the kernels to.
 *
 * Determinism: each channel's sums over an image are made by one thread in a fixed order (float32
 * per chunk of 64 rows, chunks added in order), and the elementwise passes do the same arithmetic
 * on any split, so results are bit-identical on any thread count. The reductions split whole
 * images across threads, or, with fewer images than threads, each image's channels.
 */
const STYLE = 'PartialnetChannelStyle';
const STYLE_GRAD = 'PartialnetChannelStyleGrad';
const GATE = 'PartialnetChannelGate';
const GATE_GRAD = 'PartialnetChannelGateGrad';
const KERNELS = [STYLE, STYLE_GRAD, GATE, GATE_GRAD];

/** Bytes below which a pass stays on one thread: waking the pool costs ~50-100 us on a small VM. */
const PARALLEL_MIN_BYTES = 1 << 19;

interface Layout {
  n: number;
  c: number;
  pixels: number;
  rowBytes: number;
  c4Bytes: number;
  tail: number;
  /** Bytes of one accumulator: the whole vectors and the tail's. */
  cpBytes: number;
}

function layout(kernel: string, x: tf.TensorInfo): Layout {
  if (x.dtype !== 'float32' || x.shape.length !== 4 || x.shape[3]! < 4) throw new Error(`${kernel}: expected float32 [N, H, W, C] with C >= 4, got ${x.dtype} [${x.shape.join(', ')}]`);
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const c4Bytes = 16 * Math.floor(c / 4);
  const tail = c % 4 === 0 ? 0 : 1;
  return { n, c, pixels: h * w, rowBytes: 4 * c, c4Bytes, tail, cpBytes: c4Bytes + 16 * tail };
}

function checkPerImage(kernel: string, name: string, t: tf.TensorInfo, l: Layout, width: number): void {
  if (t.dtype !== 'float32' || t.shape.length !== 2 || t.shape[0] !== l.n || t.shape[1] !== width) throw new Error(`${kernel}: expected ${name} float32 [${l.n}, ${width}], got ${t.dtype} [${t.shape.join(', ')}]`);
}

function kernels(heap: WasmHeap, kernel: string): ChannelStyleSimd {
  const memory = heap.memory();
  const k = memory && channelStyleSimd(memory);
  if (!k) throw new Error(`${kernel}: the WebAssembly SIMD kernels are not available on this wasm backend`);
  return k;
}

function poolFor(heap: WasmHeap, l: Layout): KernelPool | undefined {
  return l.n * l.pixels * l.rowBytes >= PARALLEL_MIN_BYTES ? kernelPool(heap.memory()!) : undefined;
}

/** Runs `name` once per share (all on this thread without a pool, else one share per thread). */
function run(k: ChannelStyleSimd, name: keyof ChannelStyleSimd, pool: KernelPool | undefined, shares: number[][]): void {
  const fn = k[name] as (...args: number[]) => void;
  if (!pool || shares.length < 2) {
    for (const share of shares) fn(...share);
    return;
  }
  pool.run(channelStyleSimdBinary(true), name, shares, fn);
}

/** A reduction call's images [i0, i1) and channel span: whole vectors from byte g0, c4Bytes long, and the tail vector if `tail`. */
interface ReductionShare {
  i0: number;
  i1: number;
  g0: number;
  c4Bytes: number;
  tail: number;
}

/**
 * Whole images per thread; with fewer images than threads, each image's channels split into
 * spans of whole vectors (the tail with the last), so a batch of 1 or 2 still fills the pool.
 * Lanes never mix: the results do not depend on the split.
 */
function reductionShares(l: Layout, pool: KernelPool | undefined): ReductionShare[] {
  const threads = pool ? pool.threads : 1;
  if (l.n >= threads) return splitRange(l.n, threads).map(([i0, i1]) => ({ i0, i1, g0: 0, c4Bytes: l.c4Bytes, tail: l.tail }));
  const spans = splitRange(l.c4Bytes / 16, Math.floor(threads / l.n));
  return Array.from({ length: l.n }, (_, i) => spans.map(([v0, v1], s) => ({ i0: i, i1: i + 1, g0: 16 * v0, c4Bytes: 16 * (v1 - v0), tail: s === spans.length - 1 ? l.tail : 0 }))).flat();
}

/**
 * A row kernel over all N H W rows, split into near-equal row ranges per thread: each range
 * starts at its image's coefficient row with the rows left in that image.
 */
function runRows(heap: WasmHeap, k: ChannelStyleSimd, name: 'gateRows' | 'gateShiftRows' | 'styleGradRows', l: Layout, x: number, out: number, coef: number, coefBytes: number, shift: number): void {
  const pool = poolFor(heap, l);
  const shares = splitRange(l.n * l.pixels, pool ? pool.threads : 1).map(([r0, r1]) => {
    const image = Math.floor(r0 / l.pixels);
    return [x + r0 * l.rowBytes, out + r0 * l.rowBytes, coef + image * coefBytes, shift, r1 - r0, l.rowBytes, l.c4Bytes, l.tail, l.pixels - (r0 % l.pixels), l.pixels, coefBytes];
  });
  run(k, name, pool, shares);
}

/** Input x [N, H, W, C]. Output [N, 2C]: per image and channel, mean then unbiased std. */
const styleKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as tf.TensorInfo;
  const l = layout(STYLE, x);
  const heap = wasmHeap(backend);
  const k = kernels(heap, STYLE);
  const out = heap.makeOutput([l.n, 2 * l.c], 'float32');
  const pool = poolFor(heap, l);
  const split = reductionShares(l, pool);
  // two accumulators per share
  const scratch = heap.makeOutput([(split.length * 2 * l.cpBytes) / 4], 'float32');
  try {
    const [px, po, ps] = [heap.offset(x), heap.offset(out), heap.offset(scratch)];
    const shares = split.map((r, i) => [px + r.i0 * l.pixels * l.rowBytes + r.g0, po + r.i0 * 2 * l.rowBytes + r.g0, ps + i * 2 * l.cpBytes, r.i1 - r.i0, l.pixels, l.rowBytes, r.c4Bytes, r.tail, r.c4Bytes + 16 * r.tail, l.rowBytes - r.g0, l.pixels, l.pixels - 1]);
    run(k, 'styleImages', pool, shares);
  } finally {
    heap.release(scratch);
  }
  return out;
};

/**
 * Inputs x, style (the forward's output), dy [N, 2C]. Output dx =
 * dmean / P + dstd (x - mean) / ((P - 1) std), P = H W; where std is 0 or NaN (a constant
 * channel, a 1x1 map) the std's term is left out (see channelStyle).
 */
const styleGradKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { x, style, dy } = inputs as Record<'x' | 'style' | 'dy', tf.TensorInfo>;
  const l = layout(STYLE_GRAD, x);
  checkPerImage(STYLE_GRAD, 'style', style, l, 2 * l.c);
  checkPerImage(STYLE_GRAD, 'dy', dy, l, 2 * l.c);
  const heap = wasmHeap(backend);
  const k = kernels(heap, STYLE_GRAD);
  const dx = heap.makeOutput(x.shape, 'float32');
  // per image: a = dmean / P, k = dstd / ((P - 1) std), mean
  const coef = heap.makeOutput([l.n, 3 * l.c], 'float32');
  try {
    const f32 = new Float32Array(heap.buffer());
    const [ps, pd, pc] = [heap.offset(style) / 4, heap.offset(dy) / 4, heap.offset(coef) / 4];
    const c = l.c;
    for (let n = 0; n < l.n; n++) {
      for (let ch = 0; ch < c; ch++) {
        const std = f32[ps + 2 * c * n + c + ch]!;
        const row = pc + 3 * c * n;
        f32[row + ch] = f32[pd + 2 * c * n + ch]! / l.pixels;
        f32[row + c + ch] = std > 0 ? f32[pd + 2 * c * n + c + ch]! / ((l.pixels - 1) * std) : 0;
        f32[row + 2 * c + ch] = f32[ps + 2 * c * n + ch]!;
      }
    }
    runRows(heap, k, 'styleGradRows', l, heap.offset(x), heap.offset(dx), heap.offset(coef), 3 * l.rowBytes, 0);
  } finally {
    heap.release(coef);
  }
  return dx;
};

/** Inputs x [N, H, W, C], gate [N, C], optional shift [C]. Output x gate[n, c] (+ shift[c]). */
const gateKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { x, gate, shift } = inputs as { x: tf.TensorInfo; gate: tf.TensorInfo; shift?: tf.TensorInfo };
  const l = layout(GATE, x);
  checkPerImage(GATE, 'gate', gate, l, l.c);
  if (shift && (shift.dtype !== 'float32' || tf.util.sizeFromShape(shift.shape) !== l.c)) throw new Error(`${GATE}: expected shift float32 [${l.c}], got ${shift.dtype} [${shift.shape.join(', ')}]`);
  const heap = wasmHeap(backend);
  const k = kernels(heap, GATE);
  const y = heap.makeOutput(x.shape, 'float32');
  runRows(heap, k, shift ? 'gateShiftRows' : 'gateRows', l, heap.offset(x), heap.offset(y), heap.offset(gate), l.rowBytes, shift ? heap.offset(shift) : 0);
  return y;
};

/** Inputs x, gate, dy. Outputs dx = dy gate[n, c], dgate[n, c] = sum over H, W of dy x. */
const gateGradKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { x, gate, dy } = inputs as Record<'x' | 'gate' | 'dy', tf.TensorInfo>;
  const l = layout(GATE_GRAD, x);
  checkPerImage(GATE_GRAD, 'gate', gate, l, l.c);
  if (dy.dtype !== 'float32' || !tf.util.arraysEqual(dy.shape, x.shape)) throw new Error(`${GATE_GRAD}: dy must be float32 of x's shape [${x.shape.join(', ')}], got ${dy.dtype} [${dy.shape.join(', ')}]`);
  const heap = wasmHeap(backend);
  const k = kernels(heap, GATE_GRAD);
  const dx = heap.makeOutput(x.shape, 'float32');
  const dgate = heap.makeOutput([l.n, l.c], 'float32');
  const pool = poolFor(heap, l);
  const split = reductionShares(l, pool);
  const scratch = heap.makeOutput([(split.length * 2 * l.cpBytes) / 4], 'float32');
  try {
    const [px, pdy, pg, pdx, pdg, ps] = [x, dy, gate, dx, dgate, scratch].map((t) => heap.offset(t)) as [number, number, number, number, number, number];
    const shares = split.map((r, i) => {
      const at = r.i0 * l.pixels * l.rowBytes + r.g0;
      const perImage = r.i0 * l.rowBytes + r.g0;
      return [px + at, pdy + at, pg + perImage, pdx + at, pdg + perImage, ps + i * 2 * l.cpBytes, r.i1 - r.i0, l.pixels, l.rowBytes, r.c4Bytes, r.tail, r.c4Bytes + 16 * r.tail, l.rowBytes - r.g0];
    });
    run(k, 'gateGradImages', pool, shares);
  } finally {
    heap.release(scratch);
  }
  return [dx, dgate];
};

export function registerChannelStyleKernels(): void {
  for (const [kernelName, kernelFunc] of [
    [STYLE, styleKernel],
    [STYLE_GRAD, styleGradKernel],
    [GATE, gateKernel],
    [GATE_GRAD, gateGradKernel],
  ] as const) {
    if (!tf.getKernel(kernelName, 'wasm')) tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
}

export function unregisterChannelStyleKernels(): void {
  for (const name of KERNELS) if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
}

/**
 * Whether channelStyle / channelGate on `x` run in the kernels: the wasm backend with them
 * registered and its SIMD module, x float32 [N, H, W, C] with C >= 4 and at least one element.
 */
export function channelStyleKernelsApply(x: Tensor): boolean {
  if (tf.getBackend() !== 'wasm' || !tf.getKernel(STYLE, 'wasm') || x.dtype !== 'float32' || x.rank !== 4 || x.shape[3]! < 4 || x.size === 0) return false;
  const memory = wasmHeap(tf.backend()).memory();
  return memory !== undefined && channelStyleSimd(memory) !== undefined;
}

/** The composite: mean over H, W, then the unbiased std about it (torch.std), side by side. */
function styleComposite(x: Tensor4D): Tensor2D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const pixels = h * w;
    const mean = tf.div(spatialSum(x), pixels);
    const centred = tf.sub(x, mean.reshape([n, 1, 1, c]));
    const std = tf.sqrt(tf.div(spatialSum(tf.square(centred) as Tensor4D), pixels - 1));
    return tf.concat([mean, std], 1) as Tensor2D;
  });
}

/**
 * Per image and channel of x [N, H, W, C], the mean over H and W and the unbiased standard
 * deviation (divided by H W - 1, as torch.std), side by side: [N, 2C] = [mean | std].
 * Differentiable.
 *
 * Fused (wasm): two passes per image, the first summing x - x[n, 0, 0, c], so data far from 0
 * (1000 + N(0, 1)) keeps its std accurate. Gradient dx = dmean / P + dstd (x - mean) / ((P - 1) std)
 * with P = H W. Where std = 0 (a constant channel) std has no derivative and the composite's
 * gradient is NaN (sqrt's Inf times 0); the kernels take 0 for the std's term there, so dx is
 * dmean / P. A 1x1 map (P = 1) gives std NaN forward, as torch.std and the composite do, and dx =
 * dmean backward (the composite's is NaN).
 */
export function channelStyle(x: Tensor4D): Tensor2D {
  if (!channelStyleKernelsApply(x)) return styleComposite(x);
  if (tf.engine().state.gradientDepth === 0) return tf.engine().runKernel(STYLE, { x }) as Tensor2D;
  const op = tf.customGrad((...args: unknown[]) => {
    const [input, save] = args as [Tensor4D, (ts: Tensor[]) => void];
    const style = tf.engine().runKernel(STYLE, { x: input }) as Tensor2D;
    save([input, style]);
    return {
      value: style,
      gradFunc: (dy: Tensor, saved: Tensor[]) => tf.engine().runKernel(STYLE_GRAD, { x: saved[0]!, style: saved[1]!, dy }) as Tensor,
    };
  });
  return op(x) as Tensor2D;
}

/**
 * x [N, H, W, C] times gate [N, C] broadcast over H and W, plus an optional per-channel `shift`
 * [C] (inference with a folded norm: one pass instead of two; under a gradient tape the shift is
 * a separate Add). Differentiable in x and gate: dx = dy gate[n, c], dgate[n, c] = sum over H, W
 * of dy x (fused: one pass for both).
 */
export function channelGate(x: Tensor4D, gate: Tensor2D, shift?: Tensor1D): Tensor4D {
  const [n, , , c] = x.shape;
  if (gate.rank !== 2 || gate.shape[0] !== n || gate.shape[1] !== c) throw new Error(`channelGate: expected gate [${n}, ${c}] for x [${x.shape.join(', ')}], got [${gate.shape.join(', ')}]`);
  if (shift && shift.size !== c) throw new Error(`channelGate: expected shift [${c}], got [${shift.shape.join(', ')}]`);
  const fused = channelStyleKernelsApply(x) && gate.dtype === 'float32' && (!shift || shift.dtype === 'float32');
  const taped = tf.engine().state.gradientDepth > 0;
  if (!fused || (shift && taped)) {
    return tf.tidy(() => {
      const gated = tf.mul(x, tf.reshape(gate, [n, 1, 1, c])) as Tensor4D;
      return shift ? (tf.add(gated, shift) as Tensor4D) : gated;
    });
  }
  if (!taped) return tf.engine().runKernel(GATE, shift ? { x, gate, shift } : { x, gate }) as Tensor4D;
  const op = tf.customGrad((...args: unknown[]) => {
    const [input, g, save] = args as [Tensor4D, Tensor2D, (ts: Tensor[]) => void];
    save([input, g]);
    return {
      value: tf.engine().runKernel(GATE, { x: input, gate: g }) as Tensor4D,
      gradFunc: (dy: Tensor, saved: Tensor[]) => tf.engine().runKernel(GATE_GRAD, { x: saved[0]!, gate: saved[1]!, dy }) as Tensor[],
    };
  });
  return op(x, gate) as Tensor4D;
}
