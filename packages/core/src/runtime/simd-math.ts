import { FunctionBody, SIMD } from './wasm-assembler.js';

/**
 * Elementary functions for the generated WebAssembly SIMD kernels (simd-kernels.ts' GELU,
 * focal-kernels.ts' sigmoid focal loss): each emits code that works on four float32 lanes held in
 * v128 locals. One implementation of each, shared by every kernel that needs it.
 */

/**
 * 2^f for f in [-1/2, 1/2]: minimax polynomial of degree 5 for the relative error (Remez exchange,
 * coefficients rounded to float32; evaluated in float32 it is within 2.4e-7 of 2^f).
 */
export const EXP2_POLY = [1.0000001192092896, 0.6931469440460205, 0.24022120237350464, 0.05550713092088699, 0.009675540961325169, 0.0013276472454890609];
/**
 * Adding this rounds a float32 in [-127, 0] to an integer k and leaves k + 127 in the low mantissa
 * bits (1.5 * 2^23 puts the sum in [2^23, 2^24), where the spacing is 1): shifted left by 23 they
 * are the exponent field of 2^k.
 */
export const ROUND_SHIFT = 1.5 * 2 ** 23 + 127;
/**
 * u is clamped at -127 from below: there k + 127 = 0, so 2^k is built as +0 and the result is
 * exactly 0 for u < -126.5 (where 2^u < 1.2e-38, below float32's normal range), and for -Inf.
 */
export const EXP2_MIN = -127;

/**
 * Pushes c0 + c1 x + ... + cd x^d (d = 4 or 5) for x in local `x` (`sq` is scratch) by Estrin's
 * scheme, (c0 + c1 x) + x^2 (c2 + c3 x) + x^4 (c4 [+ c5 x]): two more multiplies than Horner's
 * rule but a dependency chain of 4 steps instead of 2d (measured a few percent faster in these
 * loops).
 */
export function emitEstrin(f: FunctionBody, x: number, sq: number, c: readonly number[]): void {
  if (c.length !== 5 && c.length !== 6) throw new Error(`emitEstrin: degree 4 or 5, got ${c.length} coefficients`);
  const pair = (lo: number, hi: number): void => {
    f.get(x).f32x4(c[hi]!).simd(SIMD.f32x4Mul).f32x4(c[lo]!).simd(SIMD.f32x4Add);
  };
  f.get(x).get(x).simd(SIMD.f32x4Mul).set(sq);
  pair(0, 1);
  pair(2, 3);
  f.get(sq).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add);
  if (c.length === 6) pair(4, 5);
  else f.f32x4(c[4]!);
  f.get(sq).get(sq).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add);
}

/** v128 locals that emitExp2 overwrites. */
export interface Exp2Scratch {
  /** The rounded exponent (as ROUND_SHIFT's float). */
  k: number;
  /** Estrin's x^2. */
  sq: number;
}

/**
 * Sets `out` = scale * 2^u for u <= 0 in local `u` (within 2.4e-7 relative; exactly 0 below
 * EXP2_MIN, NaN for NaN): u = k + f with k rounded by ROUND_SHIFT (f = u - k exactly, in
 * [-1/2, 1/2]), 2^f by EXP2_POLY (times `scale`, folded into the coefficients) and 2^k built in
 * the exponent bits. pmax, not max, and the shift constant, not nearest + trunc_sat: each of
 * those is several x86 instructions in V8; pmax(u, min) keeps a NaN u (u < min is false).
 */
export function emitExp2(f: FunctionBody, u: number, out: number, scratch: Exp2Scratch, scale = 1): void {
  const { k, sq } = scratch;
  f.get(u).f32x4(EXP2_MIN).simd(SIMD.f32x4Pmax).f32x4(ROUND_SHIFT).simd(SIMD.f32x4Add).set(k);
  f.get(u).f32x4(EXP2_MIN).simd(SIMD.f32x4Pmax).get(k).f32x4(ROUND_SHIFT).simd(SIMD.f32x4Sub).simd(SIMD.f32x4Sub).set(out);
  emitEstrin(f, out, sq, scale === 1 ? EXP2_POLY : EXP2_POLY.map((c) => c * scale));
  f.get(k).i32(23).simd(SIMD.i32x4Shl).simd(SIMD.f32x4Mul).set(out);
}

/**
 * 2 atanh(s) / s for z = s^2 in [0, 1/9]: minimax polynomial of degree 4 for the relative error
 * (Remez exchange on the float64 function, coefficients rounded to float32: within 7.8e-9 of it,
 * far below float32's rounding). The Taylor series 2 + 2z/3 + 2z^2/5 + ... needs degree 6 for
 * the same.
 */
export const LOG1P_POLY = [2.0, 0.6666631698608398, 0.40024909377098083, 0.27960601449012756, 0.2817833423614502];

/**
 * Sets `out` = log(1 + e) for e in [0, 1] in local `e` (`s`, `sq` scratch): with
 * s = e / (2 + e) in [0, 1/3], log(1 + e) = 2 atanh(s) = s LOG1P_POLY(s^2). The division keeps
 * the relative accuracy for small e (log1p(e) ~ e, no 1 + e rounded first), and the range needs
 * no reduction by the exponent bits. Within ~3e-7 relative of log1p in float32 arithmetic.
 */
export function emitLog1pUnit(f: FunctionBody, e: number, out: number, s: number, sq: number): void {
  f.get(e).f32x4(2).get(e).simd(SIMD.f32x4Add).simd(SIMD.f32x4Div).set(s);
  f.get(s).get(s).simd(SIMD.f32x4Mul).set(out);
  emitEstrin(f, out, sq, LOG1P_POLY);
  f.get(s).simd(SIMD.f32x4Mul).set(out);
}
