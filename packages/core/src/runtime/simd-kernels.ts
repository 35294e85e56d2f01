import { GELU_ERF, INV_SQRT_2PI } from '../nn/gelu-math.js';
import { matmulBatchBody, matmulBody, matmulColumnPanelsBody, matmulPanelBody, transposeBatchBody, transposeBody } from './simd-matmul.js';
import { emitExp2 } from './simd-math.js';
import { assembleModule, FunctionBody, I32, SIMD, V128, memoBinary } from './wasm-assembler.js';
import { instantiateOnMemory, type WasmMemory } from './webassembly.js';
import { useRelaxedSimd } from './relaxed-simd.js';

/**
 * Kernels as a small WebAssembly SIMD module that works on the tfjs-backend-wasm heap directly (it
 * imports the backend's memory, so no copies in or out). All pointers and lengths are in bytes.
 */
export interface SimdKernels {
  /** y = x Phi(x) over `bytes` bytes of float32 (a multiple of 16). */
  gelu(x: number, y: number, bytes: number): void;
  /** dx = dy (Phi(x) + x phi(x)) over `bytes` bytes of float32 (a multiple of 16). */
  geluGrad(x: number, dy: number, dx: number, bytes: number): void;
  /** out = a + b over `bytes` bytes of float32 (a multiple of 16). */
  add(a: number, b: number, out: number, bytes: number): void;
  /** `rows` rows of `rowBytes` bytes, each read at src + r srcStride and written at dst + r dstStride. */
  copyRows(src: number, srcStride: number, dst: number, dstStride: number, rowBytes: number, rows: number): void;
  /** `outers` x `mids` copyRows calls, call (o, i) at src + o srcOuter + i srcMid and dst + o dstOuter + i dstMid. */
  copyGrid(src: number, srcOuter: number, srcMid: number, srcRow: number, dst: number, dstOuter: number, dstMid: number, dstRow: number, rowBytes: number, rows: number, mids: number, outers: number): void;
  /**
   * C (M x N) = A (M x K) B (K x N) (+ bias, N floats, unless 0), float32, A(i, p) at
   * a + i aRow + p aCol, B(p, j) at b + p bRow + 4 j, C(i, j) at c + i cRow + 4 j; M >= 4, N >= 8,
   * K >= 1 (simd-matmul.ts).
   */
  matmul(a: number, aRow: number, aCol: number, b: number, bRow: number, c: number, cRow: number, m: number, n: number, k: number, bias: number): void;
  /** `count` matmul calls, the pointers advanced by aStride, bStride and cStride bytes after each. */
  matmulBatch(a: number, aRow: number, aCol: number, b: number, bRow: number, c: number, cRow: number, m: number, n: number, k: number, bias: number, count: number, aStride: number, bStride: number, cStride: number): void;
  /** C += A B, as `matmul` without the bias; M a multiple of 4, N of 8. */
  matmulAccumulate(a: number, aRow: number, aCol: number, b: number, bRow: number, c: number, cRow: number, m: number, n: number, k: number): void;
  /** C = A B (+ bias) as `matmul` on the first kc rows of B, then `matmulAccumulate` on each next kc: one column panel of a blocked product. */
  matmulPanel(a: number, aRow: number, aCol: number, b: number, bRow: number, c: number, cRow: number, m: number, n: number, k: number, bias: number, kc: number): void;
  /**
   * C = A B (+ bias) over B's columns [j0, j1) in panels of about panelCols columns, each copied
   * into `panel` (k x (panelCols + 7) floats) and multiplied by one `matmul`; B is [K, n], or B^T
   * [n, K] where `transposed` is 1 (simd-matmul.ts).
   */
  matmulColumnPanels(a: number, aRow: number, aCol: number, b: number, n: number, c: number, cRow: number, m: number, k: number, bias: number, panel: number, j0: number, j1: number, panelCols: number, transposed: number): void;
  /** dst (cols x rows) = transpose of src (rows x cols), 4-byte elements. */
  transpose(src: number, rows: number, cols: number, dst: number): void;
  /** `count` transposes of rows x cols matrices, matrix i at src + i srcStride and dst + i dstStride. */
  transposeBatch(src: number, rows: number, cols: number, dst: number, count: number, srcStride: number, dstStride: number): void;
}

/** exp(-x^2 / 2) = 2^(x^2 * EXP2_SCALE). */
const EXP2_SCALE = -Math.LOG2E / 2;
const SQRT_2PI = Math.sqrt(2 * Math.PI);

/**
 * Leaves nothing on the stack; sets `h` = Phi(-|v|) and `e` = phi(v) = exp(-v^2 / 2) / sqrt(2 pi)
 * (exactly 0 for |v| > 13.27, see EXP2_MIN; NaN for NaN), from `v` (`t`, `u`, `k` are scratch).
 *
 * Phi(-|v|) = erfc(|v| / sqrt 2) / 2 by Abramowitz & Stegun 7.1.26, t P(t) exp(-z^2) with
 * t = 1 / (1 + p z), |error| <= 1.5e-7: the approximation tfjs's Erf kernels use, so this agrees
 * with the composite to float32 rounding. Phi(v) is then 1 - h for v >= 0 and h below, which keeps
 * the negative tail free of the cancellation in 0.5 (1 + erf(z)). The exp is 2^u with
 * u = -v^2 log2(e) / 2 = k + f, k rounded by ROUND_SHIFT (f = u - k exactly), 2^f by EXP2_POLY and
 * 2^k built in the exponent bits.
 *
 * Written for V8's x86 code (about 45 instructions per 4 floats, against ~80 before): pmax, not
 * max, and the shift constant, not nearest + trunc_sat (each of those is several instructions);
 * t computed as 1 / (1/p' + |v|) and the powers of p', the 1/2 of erfc / 2 and the sqrt(2 pi)
 * of phi folded into the coefficients; polynomials by Estrin's scheme (simd-math.ts).
 */
function emitPhi(f: FunctionBody, v: number, locals: PhiLocals): void {
  const { t, u, k, e, h } = locals;
  // t / p' = 1 / (1/p' + |v|) with t = 1 / (1 + p' |v|), p' = p / sqrt 2
  const pz = GELU_ERF.p * Math.SQRT1_2;
  f.f32x4(1).get(v).i32x4(0x7fffffff).simd(SIMD.and).f32x4(1 / pz).simd(SIMD.f32x4Add).simd(SIMD.f32x4Div).set(t);
  // P's coefficients times the powers of p', the 1/2 of erfc / 2, and sqrt(2 pi) against phi's 1 / sqrt(2 pi)
  const [b1, b2, b3, b4, b5] = GELU_ERF.a.map((a, i) => (a / 2 / pz ** (i + 1)) * SQRT_2PI) as [number, number, number, number, number];
  // t (b1 + b2 t + t^2 (b3 + b4 t) + t^4 b5), Estrin's scheme (see emitEstrin)
  f.get(t).get(t).simd(SIMD.f32x4Mul).set(u);
  f.get(t).f32x4(b2).simd(SIMD.f32x4Mul).f32x4(b1).simd(SIMD.f32x4Add);
  f.get(t).f32x4(b4).simd(SIMD.f32x4Mul).f32x4(b3).simd(SIMD.f32x4Add).get(u).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add);
  f.get(u).get(u).simd(SIMD.f32x4Mul).f32x4(b5).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add);
  f.get(t).simd(SIMD.f32x4Mul).set(t);
  f.get(v).get(v).simd(SIMD.f32x4Mul).f32x4(EXP2_SCALE).simd(SIMD.f32x4Mul).set(u);
  // e = phi(v): exactly 0 for |v| > 13.27 (u below EXP2_MIN: exp(-v^2 / 2) < 1.2e-38) and for
  // +-Inf, where the gradient's v e is then NaN (Inf * 0) as in the composite
  emitExp2(f, u, e, { k, sq: h }, INV_SQRT_2PI);
  f.get(t).get(e).simd(SIMD.f32x4Mul).set(h);
}

type PhiLocals = { v: number; t: number; u: number; k: number; e: number; h: number };

function phiLocals(f: FunctionBody): PhiLocals {
  const local = (): number => f.local(V128);
  return { v: local(), t: local(), u: local(), k: local(), e: local(), h: local() };
}

/**
 * Pushes Phi(v) = h for v with the sign bit set, 1 - h for the others (for -0 both are 1/2 up to
 * rounding; a NaN gives NaN either way).
 */
function emitSelectPhi(f: FunctionBody, l: PhiLocals): void {
  f.get(l.h).f32x4(1).get(l.h).simd(SIMD.f32x4Sub).get(l.v).i32(31).simd(SIMD.i32x4ShrS).simd(SIMD.bitselect);
}

/**
 * for (; first < end; pointers += 16) step(): `bytes` is a multiple of 16; every pointer advances
 * together. (Unrolling by 2 measured no faster.)
 */
export function vectorLoop(f: FunctionBody, pointers: number[], bytes: number, step: () => void): void {
  const end = f.local(I32);
  f.get(pointers[0]!).get(bytes).i32Add().set(end);
  f.block().loop();
  f.get(pointers[0]!).get(end).i32GeU().brIf(1);
  step();
  for (const p of pointers) f.get(p).i32(16).i32Add().set(p);
  f.br(0).end().end();
}

function geluBody(): FunctionBody {
  const [x, y, bytes] = [0, 1, 2];
  const f = new FunctionBody([I32, I32, I32]);
  const l = phiLocals(f);
  vectorLoop(f, [x, y], bytes, () => {
    f.get(x).simd(SIMD.load).set(l.v);
    emitPhi(f, l.v, l);
    f.get(y).get(l.v);
    emitSelectPhi(f, l);
    f.simd(SIMD.f32x4Mul).simd(SIMD.store);
  });
  return f;
}

/** out = a + b over `bytes` bytes of float32 (a multiple of 16). */
function addBody(): FunctionBody {
  const [a, b, out, bytes] = [0, 1, 2, 3];
  const f = new FunctionBody([I32, I32, I32, I32]);
  vectorLoop(f, [a, b, out], bytes, () => {
    f.get(out).get(a).simd(SIMD.load).get(b).simd(SIMD.load).simd(SIMD.f32x4Add).simd(SIMD.store);
  });
  return f;
}

function geluGradBody(): FunctionBody {
  const [x, dy, dx, bytes] = [0, 1, 2, 3];
  const f = new FunctionBody([I32, I32, I32, I32]);
  const l = phiLocals(f);
  vectorLoop(f, [x, dy, dx], bytes, () => {
    f.get(x).simd(SIMD.load).set(l.v);
    emitPhi(f, l.v, l);
    // dx = dy (Phi + v phi(v)), phi(v) = e
    f.get(dx).get(dy).simd(SIMD.load);
    emitSelectPhi(f, l);
    f.get(l.v).get(l.e).simd(SIMD.f32x4Mul);
    f.simd(SIMD.f32x4Add).simd(SIMD.f32x4Mul).simd(SIMD.store);
  });
  return f;
}

/**
 * Rows of 16 bytes or more: 16-byte vectors, then one last vector ending at the row's end (it
 * overlaps the previous one and rewrites the same bytes; source and destination never overlap).
 * Shorter rows: byte by byte.
 */
function copyRowsBody(): FunctionBody {
  const [src, srcStride, dst, dstStride, rowBytes, rows] = [0, 1, 2, 3, 4, 5];
  const f = new FunctionBody([I32, I32, I32, I32, I32, I32]);
  const off = f.local(I32);
  const copyVector = (at: () => void): void => {
    f.get(dst);
    at();
    f.i32Add().get(src);
    at();
    f.i32Add().simd(SIMD.load).simd(SIMD.store);
  };
  f.block().loop();
  f.get(rows).i32Eqz().brIf(1);
  f.i32(0).set(off);
  f.get(rowBytes).i32(16).i32GeU().if();
  {
    f.loop();
    copyVector(() => f.get(off));
    f.get(off).i32(16).i32Add().set(off);
    f.get(rowBytes).get(off).i32Sub().i32(16).i32GeU().brIf(0);
    f.end();
    f.get(off).get(rowBytes).i32LtU().if();
    copyVector(() => f.get(rowBytes).i32(16).i32Sub());
    f.end();
  }
  f.else();
  {
    f.block().loop();
    f.get(off).get(rowBytes).i32GeU().brIf(1);
    f.get(dst).get(off).i32Add().get(src).get(off).i32Add().i32Load8().i32Store8();
    f.get(off).i32(1).i32Add().set(off);
    f.br(0).end().end();
  }
  f.end();
  f.get(src).get(srcStride).i32Add().set(src);
  f.get(dst).get(dstStride).i32Add().set(dst);
  f.get(rows).i32(1).i32Sub().set(rows);
  f.br(0).end().end();
  return f;
}

/**
 * `outers` x `mids` calls of copyRows (function `copyRowsIndex`), the call (o, i) from
 * src + o srcOuter + i srcMid to dst + o dstOuter + i dstMid: a strided copy with two more levels,
 * such as a swap of two adjacent axes (wasm-copy-kernels.ts), in one call from JavaScript.
 */
function copyGridBody(copyRowsIndex: number): FunctionBody {
  const [src, srcOuter, srcMid, srcRow, dst, dstOuter, dstMid, dstRow, rowBytes, rows, mids, outers] = Array.from({ length: 12 }, (_, i) => i);
  const f = new FunctionBody(new Array(12).fill(I32));
  const [i, s, d] = [f.local(I32), f.local(I32), f.local(I32)];
  f.block().loop(); // outers
  {
    f.get(outers).i32Eqz().brIf(1);
    f.get(src).set(s);
    f.get(dst).set(d);
    f.get(mids).set(i);
    f.block().loop(); // mids
    {
      f.get(i).i32Eqz().brIf(1);
      f.get(s).get(srcRow).get(d).get(dstRow).get(rowBytes).get(rows).call(copyRowsIndex);
      f.get(s).get(srcMid).i32Add().set(s);
      f.get(d).get(dstMid).i32Add().set(d);
      f.get(i).i32(1).i32Sub().set(i);
      f.br(0);
    }
    f.end().end();
    f.get(src).get(srcOuter).i32Add().set(src);
    f.get(dst).get(dstOuter).i32Add().set(dst);
    f.get(outers).i32(1).i32Sub().set(outers);
    f.br(0);
  }
  f.end().end();
  return f;
}

const binaryFor = memoBinary((shared, fma) => {
  const functions = [
    { name: 'gelu', body: geluBody() },
    { name: 'geluGrad', body: geluGradBody() },
    { name: 'add', body: addBody() },
    { name: 'copyRows', body: copyRowsBody() },
    { name: 'matmul', body: matmulBody(fma) },
    { name: 'transpose', body: transposeBody() },
  ];
  functions.push({ name: 'copyGrid', body: copyGridBody(functions.findIndex((f) => f.name === 'copyRows')) });
  const matmulIndex = functions.findIndex((f) => f.name === 'matmul');
  functions.push({ name: 'matmulBatch', body: matmulBatchBody(matmulIndex) });
  functions.push({ name: 'matmulAccumulate', body: matmulBody(fma, true) });
  functions.push({ name: 'matmulPanel', body: matmulPanelBody(matmulIndex, functions.length - 1) });
  const [copyRowsIndex, transposeIndex] = ['copyRows', 'transpose'].map((name) => functions.findIndex((f) => f.name === name)) as [number, number];
  functions.push({ name: 'matmulColumnPanels', body: matmulColumnPanelsBody(matmulIndex, copyRowsIndex, transposeIndex) });
  functions.push({ name: 'transposeBatch', body: transposeBatchBody(transposeIndex) });
  return assembleModule(functions, shared);
});

/**
 * The module's binary for a plain (false) or a shared (true) memory, its products built with
 * relaxed_madd where this runtime has it (relaxed-simd.ts).
 */
export function simdKernelsBinary(shared: boolean): Uint8Array {
  return binaryFor(shared, useRelaxedSimd());
}

/**
 * Instantiates the kernels on `memory`; undefined when this runtime cannot (no WebAssembly SIMD),
 * and the callers fall back to JavaScript loops.
 */
export function instantiateSimdKernels(memory: WasmMemory): SimdKernels | undefined {
  return instantiateOnMemory(memory, simdKernelsBinary) as SimdKernels | undefined;
}
