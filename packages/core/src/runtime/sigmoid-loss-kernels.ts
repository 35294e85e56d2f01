import { emitExp2, emitLog1pUnit } from './simd-math.js';
import { assembleModule, F32, FunctionBody, I32, SIMD, V128, memoBinary } from './wasm-assembler.js';
import { instantiateOnMemory, perMemory } from './webassembly.js';

/**
 * Losses on logits x against targets t in [0, 1] through the sigmoid p = 1 / (1 + e^-x), as
 * WebAssembly SIMD kernels on the tfjs-backend-wasm heap (the module imports its memory): one
 * pass over x, t (and weights) for the loss sum, one for the gradient, where tfjs's composite
 * takes a dozen passes and a scalar, single-threaded Softplus (RetinaNet's focal loss over
 * [anchors, 80] logits: ~0.4 s of a training step on one core before).
 *
 * - focal (gamma = 2, Lin et al.; mmdet's sigmoid focal loss): per element
 *   BCE(x, t) (alpha t + (1 - alpha)(1 - t)) pt^2, pt = (1 - p) t + p (1 - t); its gradient is the
 *   closed form for binary targets that detection's focalGrad writes out,
 *   t alpha q^2 (2 p log p - q) + (1 - t)(1 - alpha) p^2 (p - 2 q log q), q = 1 - p.
 * - bce: BCE(x, t) = max(x, 0) - x t + log(1 + e^-|x|), gradient p - t.
 * Both times a weight: none, one per element ("full"), or one per row of K elements ("row", K a
 * multiple of 4: a row's vectors share one splatted weight). Targets are a float tensor of the
 * logits' shape, or (focal loss, K a multiple of 4, no weights or per row) one int32 class index
 * per row: t = 1 in that column, 0 elsewhere, all 0 for an index outside [0, K) (background), so
 * the caller never builds an [N, K] one-hot.
 *
 * Everything comes from e = exp(-|x|) in (0, 1] and L = log1p(e): p and q are 1 / (1 + e) and
 * e / (1 + e) (which is which by the sign of x), so neither is ever 1 minus something close to 1,
 * softplus(x) = max(x, 0) + L and softplus(-x) = max(-x, 0) + L (log p and log q without a log of
 * a rounded p). One exp (2^u, simd-math.ts), one log1p on [0, 1] (simd-math.ts), two divisions
 * per four elements.
 *
 * The sum kernel writes one float32x4 partial sum per CHUNK_VECTORS vectors (counted from the
 * first element of the tensor), which the caller adds in float64 in chunk order: threads take
 * whole chunks, so the result does not depend on how many there are, and no float32 accumulator
 * sums more than CHUNK_VECTORS terms (tf.sum on wasm adds a million in one float32).
 *
 * Pointers in bytes. Sum: (x, t, w, partials, vectors, alpha, rowVectors, firstCol). Gradient:
 * (x, t, w, dx, vectors, alpha, scale, rowVectors, firstCol): dx = scale * weight * dloss/dx.
 * `w` is unused without weights; in row mode it points at the weight of the first vector's row,
 * and with labels `t` at its label; `rowVectors` = K / 4 and `firstCol` is the first vector's
 * index within its row.
 */
export type SigmoidLossKind = 'focal' | 'bce';
export type LossWeights = 'none' | 'full' | 'row';
/** Targets as a float tensor of the logits' shape, or as one class index per row (int32). */
export type LossTargets = 'dense' | 'labels';

/** Vectors (of 4 elements) per partial sum: each float32 lane adds at most 256 terms. */
export const CHUNK_VECTORS = 256;

export type SigmoidLossSumFn = (x: number, t: number, w: number, partials: number, vectors: number, alpha: number, rowVectors: number, firstCol: number) => void;
export type SigmoidLossGradFn = (x: number, t: number, w: number, dx: number, vectors: number, alpha: number, scale: number, rowVectors: number, firstCol: number) => void;

/** Export name of one kernel, e.g. focalSumRow, focalGradLabelsNone. */
export function sigmoidLossExport(kind: SigmoidLossKind, pass: 'Sum' | 'Grad', weights: LossWeights, targets: LossTargets = 'dense'): string {
  return `${kind}${pass}${targets === 'labels' ? 'Labels' : ''}${weights[0]!.toUpperCase()}${weights.slice(1)}`;
}

interface Terms {
  x: number;
  t: number;
  /** 1 - t */
  u: number;
  /** exp(-|x|), then scratch */
  e: number;
  /** log1p(exp(-|x|)) */
  l: number;
  p: number;
  q: number;
  /** max(x, 0) */
  m: number;
  s1: number;
  s2: number;
}

/**
 * Sets the terms every loss needs from the vector in `x` (and `t` loaded): e, l, p, q, m, u. For
 * x = -0 the sign bit picks p = e / (1 + e) = 1/2 either way; a NaN x gives NaN everywhere.
 */
function emitTerms(f: FunctionBody, v: Terms): void {
  // e = 2^(-|x| log2 e) = exp(-|x|)
  f.get(v.x).i32x4(0x7fffffff).simd(SIMD.and).f32x4(-Math.LOG2E).simd(SIMD.f32x4Mul).set(v.l);
  emitExp2(f, v.l, v.e, { k: v.s1, sq: v.s2 });
  emitLog1pUnit(f, v.e, v.l, v.s1, v.s2);
  // s1 = 1 / (1 + e), s2 = e / (1 + e); p is s1 for x >= 0, s2 below (the sign mask selects)
  f.f32x4(1).f32x4(1).get(v.e).simd(SIMD.f32x4Add).simd(SIMD.f32x4Div).set(v.s1);
  f.get(v.e).get(v.s1).simd(SIMD.f32x4Mul).set(v.s2);
  f.get(v.x).i32(31).simd(SIMD.i32x4ShrS).set(v.e);
  f.get(v.s2).get(v.s1).get(v.e).simd(SIMD.bitselect).set(v.p);
  f.get(v.s1).get(v.s2).get(v.e).simd(SIMD.bitselect).set(v.q);
  // pmax(x, 0) = x < 0 ? 0 : x
  f.get(v.x).f32x4(0).simd(SIMD.f32x4Pmax).set(v.m);
  f.f32x4(1).get(v.t).simd(SIMD.f32x4Sub).set(v.u);
}

/** Pushes BCE(x, t) = m - x t + l. */
function emitBce(f: FunctionBody, v: Terms): void {
  f.get(v.m).get(v.x).get(v.t).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Sub).get(v.l).simd(SIMD.f32x4Add);
}

/** Pushes the loss of one vector (before the weight); `alpha` and `beta` = 1 - alpha are splats. */
function emitLoss(f: FunctionBody, kind: SigmoidLossKind, v: Terms, alpha: number, beta: number): void {
  emitBce(f, v);
  if (kind === 'bce') return;
  // pt = q t + p (1 - t), at = alpha t + (1 - alpha)(1 - t) (the composite's order)
  f.get(v.q).get(v.t).simd(SIMD.f32x4Mul).get(v.p).get(v.u).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).tee(v.s1);
  f.get(v.s1).simd(SIMD.f32x4Mul);
  f.get(v.t).get(alpha).simd(SIMD.f32x4Mul).get(v.u).get(beta).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add);
  f.simd(SIMD.f32x4Mul).simd(SIMD.f32x4Mul);
}

/**
 * Pushes the gradient of one vector (before the weight). `c1` = -alpha scale and
 * `c0` = (1 - alpha) scale (focal) or `c1` = scale (bce) are splats.
 */
function emitGrad(f: FunctionBody, kind: SigmoidLossKind, v: Terms, c1: number, c0: number): void {
  if (kind === 'bce') {
    // p - t = p (1 - t) - q t: no 1 - q cancellation where t = 1 and x is large
    f.get(v.p).get(v.u).simd(SIMD.f32x4Mul).get(v.q).get(v.t).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Sub).get(c1).simd(SIMD.f32x4Mul);
    return;
  }
  // t = 1: alpha q^2 (2 p log p - q) = -alpha q^2 (2 p (max(-x, 0) + l) + q), max(-x, 0) = m - x
  f.get(v.t).get(c1).simd(SIMD.f32x4Mul);
  f.get(v.q).get(v.q).simd(SIMD.f32x4Mul);
  f.get(v.p).get(v.m).get(v.x).simd(SIMD.f32x4Sub).get(v.l).simd(SIMD.f32x4Add).simd(SIMD.f32x4Mul).tee(v.s1).get(v.s1).simd(SIMD.f32x4Add).get(v.q).simd(SIMD.f32x4Add);
  f.simd(SIMD.f32x4Mul).simd(SIMD.f32x4Mul);
  // t = 0: (1 - alpha) p^2 (p - 2 q log q) = (1 - alpha) p^2 (p + 2 q (m + l))
  f.get(v.u).get(c0).simd(SIMD.f32x4Mul);
  f.get(v.p).get(v.p).simd(SIMD.f32x4Mul);
  f.get(v.q).get(v.m).get(v.l).simd(SIMD.f32x4Add).simd(SIMD.f32x4Mul).tee(v.s1).get(v.s1).simd(SIMD.f32x4Add).get(v.p).simd(SIMD.f32x4Add);
  f.simd(SIMD.f32x4Mul).simd(SIMD.f32x4Mul);
  f.simd(SIMD.f32x4Add);
}

function body(kind: SigmoidLossKind, pass: 'Sum' | 'Grad', weights: LossWeights, targets: LossTargets): FunctionBody {
  const sum = pass === 'Sum';
  const labels = targets === 'labels';
  const rows = labels || weights === 'row';
  const f = new FunctionBody(sum ? [I32, I32, I32, I32, I32, F32, I32, I32] : [I32, I32, I32, I32, I32, F32, F32, I32, I32]);
  const [x, t, w, out, vectors, alpha] = [0, 1, 2, 3, 4, 5];
  const scale = 6;
  const [rowVectors, firstCol] = sum ? [6, 7] : [7, 8];
  const v128 = (): number => f.local(V128);
  const v: Terms = { x: v128(), t: v128(), u: v128(), e: v128(), l: v128(), p: v128(), q: v128(), m: v128(), s1: v128(), s2: v128() };
  const [a, b, weight, acc, label, col] = [v128(), v128(), v128(), v128(), v128(), v128()];
  const [colLeft, count] = [f.local(I32), f.local(I32)];

  // loss: a = alpha, b = 1 - alpha; gradient: a = -alpha scale (bce: scale), b = (1 - alpha) scale
  if (sum) {
    f.get(alpha).simd(SIMD.f32x4Splat).set(a);
    f.f32x4(1).get(a).simd(SIMD.f32x4Sub).set(b);
  } else if (kind === 'bce') {
    f.get(scale).simd(SIMD.f32x4Splat).set(a);
  } else {
    f.get(alpha).simd(SIMD.f32x4Splat).get(scale).simd(SIMD.f32x4Splat).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Neg).set(a);
    f.f32x4(1).get(alpha).simd(SIMD.f32x4Splat).simd(SIMD.f32x4Sub).get(scale).simd(SIMD.f32x4Splat).simd(SIMD.f32x4Mul).set(b);
  }
  if (weights === 'row') f.get(w).simd(SIMD.load32Splat).set(weight);
  if (labels) {
    // the row's class index in every lane, against the columns of the current vector
    f.get(t).simd(SIMD.load32Splat).set(label);
    f.get(firstCol).i32(4).i32Mul().simd(SIMD.i32x4Splat).i32x4Lanes(0, 1, 2, 3).simd(SIMD.i32x4Add).set(col);
  }
  if (rows) f.get(rowVectors).get(firstCol).i32Sub().set(colLeft);
  // outer loop: one chunk of at most CHUNK_VECTORS vectors (the gradient: all in one), inner: its vectors
  f.block().loop();
  f.get(vectors).i32Eqz().brIf(1);
  if (sum) f.get(vectors).i32(CHUNK_VECTORS).get(vectors).i32(CHUNK_VECTORS).i32LtU().select().set(count);
  else f.get(vectors).set(count);
  f.get(vectors).get(count).i32Sub().set(vectors);
  if (sum) f.f32x4(0).set(acc);
  f.block().loop();
  f.get(count).i32Eqz().brIf(1);
  if (rows) {
    // the next row starts: its weight, its label
    f.get(colLeft).i32Eqz().if();
    if (weights === 'row') {
      f.get(w).i32(4).i32Add().set(w);
      f.get(w).simd(SIMD.load32Splat).set(weight);
    }
    if (labels) {
      f.get(t).i32(4).i32Add().set(t);
      f.get(t).simd(SIMD.load32Splat).set(label);
      f.i32x4Lanes(0, 1, 2, 3).set(col);
    }
    f.get(rowVectors).set(colLeft);
    f.end();
    f.get(colLeft).i32(1).i32Sub().set(colLeft);
  }
  f.get(x).simd(SIMD.load).set(v.x);
  if (labels) {
    // t = 1 in the label's column (none for a label outside [0, K): background)
    f.get(col).get(label).simd(SIMD.i32x4Eq).f32x4(1).simd(SIMD.and).set(v.t);
    f.get(col).i32x4(4).simd(SIMD.i32x4Add).set(col);
  } else {
    f.get(t).simd(SIMD.load).set(v.t);
  }
  emitTerms(f, v);
  if (sum) {
    f.get(acc);
    emitLoss(f, kind, v, a, b);
  } else {
    f.get(out);
    emitGrad(f, kind, v, a, b);
  }
  if (weights === 'full') f.get(w).simd(SIMD.load).simd(SIMD.f32x4Mul);
  else if (weights === 'row') f.get(weight).simd(SIMD.f32x4Mul);
  if (sum) {
    f.simd(SIMD.f32x4Add).set(acc);
  } else {
    f.simd(SIMD.store);
    f.get(out).i32(16).i32Add().set(out);
  }
  f.get(x).i32(16).i32Add().set(x);
  if (!labels) f.get(t).i32(16).i32Add().set(t);
  if (weights === 'full') f.get(w).i32(16).i32Add().set(w);
  f.get(count).i32(1).i32Sub().set(count);
  f.br(0).end().end();
  if (sum) {
    // the chunk's partial sum out
    f.get(out).get(acc).simd(SIMD.store);
    f.get(out).i32(16).i32Add().set(out);
  }
  f.br(0).end().end();
  return f;
}

const KINDS: readonly SigmoidLossKind[] = ['focal', 'bce'];
const WEIGHTS: readonly LossWeights[] = ['none', 'full', 'row'];
/** Weights with label targets: none or per row (the rows are tracked for the labels anyway). */
export const LABEL_WEIGHTS: readonly LossWeights[] = ['none', 'row'];
/** The module (every loss, pass and weight mode) for a plain (false) or a shared (true) memory. */
export const sigmoidLossBinary = memoBinary((shared) => {
  const functions = KINDS.flatMap((kind) => (['Sum', 'Grad'] as const).flatMap((pass) => WEIGHTS.map((weights) => ({ name: sigmoidLossExport(kind, pass, weights), body: body(kind, pass, weights, 'dense') }))));
  // RetinaNet's focal loss from class indices: no [N, K] one-hot built on the host and uploaded
  for (const pass of ['Sum', 'Grad'] as const) {
    for (const weights of LABEL_WEIGHTS) functions.push({ name: sigmoidLossExport('focal', pass, weights, 'labels'), body: body('focal', pass, weights, 'labels') });
  }
  return assembleModule(functions, shared);
});

export type SigmoidLossKernels = Record<string, SigmoidLossSumFn | SigmoidLossGradFn>;

/** The kernels on `memory` by export name; undefined where WebAssembly SIMD is unavailable. */
export const sigmoidLossKernels = perMemory((memory) => instantiateOnMemory(memory, sigmoidLossBinary) as SigmoidLossKernels | undefined);
