import { vectorLoop } from './simd-kernels.js';
import { assembleModule, F32, FunctionBody, I32, SIMD, V128, memoBinary } from './wasm-assembler.js';
import { instantiateOnMemory, perMemory } from './webassembly.js';

/**
 * AdamW's and SGD's parameter updates as one WebAssembly SIMD pass per parameter over the
 * tfjs-backend-wasm heap (optim/fused-update.ts registers them as kernels).
 *
 * Why: the composite update is ~13 stock elementwise kernels per parameter for AdamW (each a
 * full read and write of the tensor, plus a scalar tensor made per call); for PartialNet-T0's 155
 * parameters that was ~35 ms of a training step on one thread, most of it memory traffic and
 * dispatch. Here each element is read once and its three results written once.
 *
 * Exactness: every element gets the float32 operations the composite's kernels perform, in the
 * same order and with the same float32 scalars (the caller rounds each scalar as tfjs rounds a
 * number it turns into a scalar tensor; a float32 parameter does that rounding at the call), so
 * the results are bit-identical to the composite on wasm: wasm's f32x4 add, sub, mul, div and
 * sqrt are IEEE 754 round-to-nearest (no fused multiply-add, denormals kept), as are the C++ /
 * XNNPACK kernels tfjs-backend-wasm runs. The scalar tails (`adamwTail`, `sgdTail`) do the same
 * operations in float64 rounded to float32 after each one, which for +, -, *, / and sqrt of
 * float32 operands gives the float32 result exactly (double has more than 2 x 24 + 2 bits).
 * core/test/adamw-kernel.test.ts checks the bits against the composite.
 */

/** AdamW's float32 scalars (see AdamWScalars in optim/fused-update.ts), in the kernels' argument order. */
export type AdamWArgs = readonly [beta1: number, oneMinusBeta1: number, beta2: number, oneMinusBeta2: number, biasCorrection2: number, eps: number, decay: number, stepSize: number];

/** SGD's float32 scalars, in the kernels' argument order. */
export type SGDArgs = readonly [weightDecay: number, momentum: number, oneMinusDampening: number, lr: number];

/** Which SGD update a kernel computes (one function per combination: no branches in the loop). */
export interface SGDVariant {
  /** d = g + p wd (else d = g). */
  decay: boolean;
  /** none: p -= lr d; first: buf = d; later: buf = buf momentum + d (1 - dampening). */
  momentum: 'none' | 'first' | 'later';
  /** d = d + buf momentum (else d = buf), with momentum only. */
  nesterov: boolean;
}

export function sgdKernelName(v: SGDVariant): string {
  return `sgd_w${v.decay ? 1 : 0}_m${['none', 'first', 'later'].indexOf(v.momentum)}_n${v.nesterov ? 1 : 0}`;
}

const SGD_VARIANTS: SGDVariant[] = [false, true].flatMap((decay) => [
  { decay, momentum: 'none' as const, nesterov: false },
  ...(['first', 'later'] as const).flatMap((momentum) => [false, true].map((nesterov) => ({ decay, momentum, nesterov }))),
]);

/**
 * adamw(p, g, m, v, pOut, mOut, vOut, bytes, ...AdamWArgs): pointers and `bytes` (a multiple of
 * 16) in bytes. Per element, in the composite's order:
 *   m1 = m b1 + g (1 - b1); v1 = v b2 + (g g) (1 - b2); denom = sqrt(v1) / bc2 + eps;
 *   p1 = p decay - (m1 / denom) stepSize   (`p`, not `p decay`, when `withDecay` is false).
 */
function adamwBody(withDecay: boolean): FunctionBody {
  const [p, g, m, v, pOut, mOut, vOut, bytes] = [0, 1, 2, 3, 4, 5, 6, 7];
  const f = new FunctionBody([I32, I32, I32, I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32, F32]);
  // the scalars splatted once, before the loop
  const [b1, c1, b2, c2, bc2, eps, decay, stepSize] = Array.from({ length: 8 }, (_, i) => {
    const local = f.local(V128);
    f.get(8 + i).simd(SIMD.f32x4Splat).set(local);
    return local;
  });
  const [gv, m1, v1] = [f.local(V128), f.local(V128), f.local(V128)];
  vectorLoop(f, [p, g, m, v, pOut, mOut, vOut], bytes, () => {
    f.get(g).simd(SIMD.load).set(gv);
    f.get(m).simd(SIMD.load).get(b1).simd(SIMD.f32x4Mul).get(gv).get(c1).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).set(m1);
    f.get(v).simd(SIMD.load).get(b2).simd(SIMD.f32x4Mul).get(gv).get(gv).simd(SIMD.f32x4Mul).get(c2).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).set(v1);
    f.get(mOut).get(m1).simd(SIMD.store);
    f.get(vOut).get(v1).simd(SIMD.store);
    f.get(pOut).get(p).simd(SIMD.load);
    if (withDecay) f.get(decay).simd(SIMD.f32x4Mul);
    // (m1 / (sqrt(v1) / bc2 + eps)) stepSize
    f.get(m1).get(v1).simd(SIMD.f32x4Sqrt).get(bc2).simd(SIMD.f32x4Div).get(eps).simd(SIMD.f32x4Add).simd(SIMD.f32x4Div);
    f.get(stepSize).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Sub).simd(SIMD.store);
  });
  return f;
}

/**
 * sgd_*(p, g, buf, pOut, bufOut, bytes, ...SGDArgs) for one variant, in the composite's order:
 *   d = g + p wd; next = buf momentum + d (1 - dampening) (or d on the first step);
 *   d = d + next momentum (nesterov) or next; p1 = p - d lr. `buf` is read only by `later`,
 *   `bufOut` written only with momentum.
 */
function sgdBody(variant: SGDVariant): FunctionBody {
  const [p, g, buf, pOut, bufOut, bytes] = [0, 1, 2, 3, 4, 5];
  const f = new FunctionBody([I32, I32, I32, I32, I32, I32, F32, F32, F32, F32]);
  const [wd, momentum, damp, lr] = Array.from({ length: 4 }, (_, i) => {
    const local = f.local(V128);
    f.get(6 + i).simd(SIMD.f32x4Splat).set(local);
    return local;
  });
  const [d, next] = [f.local(V128), f.local(V128)];
  vectorLoop(f, [p, g, buf, pOut, bufOut], bytes, () => {
    f.get(g).simd(SIMD.load);
    if (variant.decay) f.get(p).simd(SIMD.load).get(wd).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add);
    f.set(d);
    if (variant.momentum !== 'none') {
      if (variant.momentum === 'first') f.get(d).set(next);
      else f.get(buf).simd(SIMD.load).get(momentum).simd(SIMD.f32x4Mul).get(d).get(damp).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).set(next);
      f.get(bufOut).get(next).simd(SIMD.store);
      if (variant.nesterov) f.get(d).get(next).get(momentum).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).set(d);
      else f.get(next).set(d);
    }
    f.get(pOut).get(p).simd(SIMD.load).get(d).get(lr).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Sub).simd(SIMD.store);
  });
  return f;
}

/** The module's binary for a plain (false) or a shared (true) memory. */
export const optimizerKernelsBinary = memoBinary((shared) =>
  assembleModule(
    [
      { name: 'adamw', body: adamwBody(false) },
      { name: 'adamwDecay', body: adamwBody(true) },
      ...SGD_VARIANTS.map((v) => ({ name: sgdKernelName(v), body: sgdBody(v) })),
    ],
    shared,
  ),
);

/** The module's exports by name (`adamw`, `adamwDecay`, `sgdKernelName(variant)`). */
export type OptimizerKernels = Record<string, (...args: number[]) => void>;

/** The kernels on `memory`; undefined where WebAssembly SIMD is unavailable. */
export const optimizerKernels = perMemory((memory) => instantiateOnMemory(memory, optimizerKernelsBinary) as OptimizerKernels | undefined);

const r = Math.fround;

/** Elements [from, to) of the AdamW update in scalar code (the vectors' tail), the same float32 operations. */
export function adamwTail(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  pOut: Float32Array,
  mOut: Float32Array,
  vOut: Float32Array,
  from: number,
  to: number,
  args: AdamWArgs,
  withDecay: boolean,
): void {
  const [b1, c1, b2, c2, bc2, eps, decay, stepSize] = args.map(r) as unknown as AdamWArgs;
  for (let i = from; i < to; i++) {
    const gi = g[i]!;
    const m1 = r(r(m[i]! * b1) + r(gi * c1));
    const v1 = r(r(v[i]! * b2) + r(r(gi * gi) * c2));
    const denom = r(r(r(Math.sqrt(v1)) / bc2) + eps);
    const decayed = withDecay ? r(p[i]! * decay) : p[i]!;
    mOut[i] = m1;
    vOut[i] = v1;
    pOut[i] = r(decayed - r(r(m1 / denom) * stepSize));
  }
}

/** Elements [from, to) of an SGD update in scalar code (the vectors' tail), the same float32 operations. */
export function sgdTail(p: Float32Array, g: Float32Array, buf: Float32Array | undefined, pOut: Float32Array, bufOut: Float32Array | undefined, from: number, to: number, args: SGDArgs, variant: SGDVariant): void {
  const [wd, momentum, damp, lr] = args.map(r) as unknown as SGDArgs;
  for (let i = from; i < to; i++) {
    let d = variant.decay ? r(g[i]! + r(p[i]! * wd)) : g[i]!;
    if (variant.momentum !== 'none') {
      const next = variant.momentum === 'first' ? d : r(r(buf![i]! * momentum) + r(d * damp));
      bufOut![i] = next;
      d = variant.nesterov ? r(d + r(next * momentum)) : next;
    }
    pOut[i] = r(p[i]! - r(d * lr));
  }
}
