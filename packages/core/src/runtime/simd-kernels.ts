import { GELU_ERF, GELU_EXP_MIN, INV_SQRT_2PI } from '../nn/gelu-math.js';
import { assembleModule, FunctionBody, I32, SIMD, V128 } from './wasm-assembler.js';
import { webAssembly, type WasmMemory } from './webassembly.js';

/**
 * Kernels as a small WebAssembly SIMD module that works on the tfjs-backend-wasm heap directly (it
 * imports the backend's memory, so no copies in or out). All pointers and lengths are in bytes.
 */
export interface SimdKernels {
  /** y = x Phi(x) over `bytes` bytes of float32 (a multiple of 16). */
  gelu(x: number, y: number, bytes: number): void;
  /** dx = dy (Phi(x) + x phi(x)) over `bytes` bytes of float32 (a multiple of 16). */
  geluGrad(x: number, dy: number, dx: number, bytes: number): void;
  /** `rows` rows of `rowBytes` bytes, each read at src + r srcStride and written at dst + r dstStride. */
  copyRows(src: number, srcStride: number, dst: number, dstStride: number, rowBytes: number, rows: number): void;
}

const LOG2E = Math.LOG2E;
// ln 2 split so that k * LN2_HI is exact in float32 for |k| < 2^9 (its low 9 mantissa bits are zero).
const LN2_HI = 0.693145751953125;
const LN2_LO = Math.LN2 - LN2_HI;

/**
 * Leaves nothing on the stack; sets `phi` = Phi(v) and `e` = exp(-v^2 / 2) (0 below float32's
 * normal range and for NaN), from `v`. Phi comes from the Abramowitz & Stegun 7.1.26 erfc
 * approximation q = t P(t) exp(-z^2) (|error| <= 1.5e-7, the one tfjs's Erf kernels use):
 * Phi(x) = 1 - q/2 for x >= 0 and q/2 below, which keeps the negative tail free of the
 * cancellation in 0.5 (1 + erf(z)). exp is by range reduction, exp(w) = 2^k exp(r) with
 * k = round(w log2 e), |r| <= ln2 / 2, exp(r) by its degree-7 Taylor polynomial (truncation
 * < 6e-9 relative) and 2^k built in the exponent bits.
 */
function emitPhi(f: FunctionBody, v: number, locals: PhiLocals): void {
  const { z, t, q, w, k, mask, e, phi } = locals;
  const [a1, a2, a3, a4, a5] = GELU_ERF.a;
  f.get(v).simd(SIMD.f32x4Abs).f32x4(Math.SQRT1_2).simd(SIMD.f32x4Mul).set(z);
  f.f32x4(1).f32x4(1).get(z).f32x4(GELU_ERF.p).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).simd(SIMD.f32x4Div).set(t);
  f.get(t).f32x4(a5).simd(SIMD.f32x4Mul).f32x4(a4).simd(SIMD.f32x4Add);
  for (const a of [a3, a2, a1]) f.get(t).simd(SIMD.f32x4Mul).f32x4(a).simd(SIMD.f32x4Add);
  f.get(t).simd(SIMD.f32x4Mul).set(q);
  // w = -z^2; below GELU_EXP_MIN exp(w) is not a normal float32: it is taken as 0.
  f.get(z).get(z).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Neg).set(w);
  f.get(w).f32x4(GELU_EXP_MIN).simd(SIMD.f32x4Ge).set(mask);
  f.get(w).f32x4(GELU_EXP_MIN).simd(SIMD.f32x4Max).set(w);
  f.get(w).f32x4(LOG2E).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Nearest).set(k);
  f.get(w).get(k).f32x4(LN2_HI).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Sub).get(k).f32x4(LN2_LO).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Sub).set(w);
  f.get(w).f32x4(1 / 5040).simd(SIMD.f32x4Mul);
  for (const c of [1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1]) f.f32x4(c).simd(SIMD.f32x4Add).get(w).simd(SIMD.f32x4Mul);
  f.f32x4(1).simd(SIMD.f32x4Add);
  f.get(k).simd(SIMD.i32x4TruncSatF32x4S).i32(127).simd(SIMD.i32x4Splat).simd(SIMD.i32x4Add).i32(23).simd(SIMD.i32x4Shl);
  f.simd(SIMD.f32x4Mul).get(mask).simd(SIMD.and).set(e);
  // h = q / 2; Phi = v >= 0 ? 1 - h : h (NaN compares false and gives NaN through q).
  f.get(q).get(e).simd(SIMD.f32x4Mul).f32x4(0.5).simd(SIMD.f32x4Mul).set(q);
  f.f32x4(1).get(q).simd(SIMD.f32x4Sub).get(q).get(v).f32x4(0).simd(SIMD.f32x4Ge).simd(SIMD.bitselect).set(phi);
}

type PhiLocals = { v: number; z: number; t: number; q: number; w: number; k: number; mask: number; e: number; phi: number };

function phiLocals(f: FunctionBody): PhiLocals {
  const local = (): number => f.local(V128);
  return { v: local(), z: local(), t: local(), q: local(), w: local(), k: local(), mask: local(), e: local(), phi: local() };
}

/**
 * for (; first < end; pointers += 16) step(): `bytes` is a multiple of 16; every pointer advances
 * together. (Unrolling by 2 or 4 measured no faster: the loop is bound by its ~60 instructions.)
 */
function vectorLoop(f: FunctionBody, pointers: number[], bytes: number, step: () => void): void {
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
    f.get(y).get(l.v).get(l.phi).simd(SIMD.f32x4Mul).simd(SIMD.store);
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
    // dx = dy * (phi + v * e / sqrt(2 pi))
    f.get(dx).get(dy).simd(SIMD.load);
    f.get(l.phi).get(l.v).get(l.e).simd(SIMD.f32x4Mul).f32x4(INV_SQRT_2PI).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add);
    f.simd(SIMD.f32x4Mul).simd(SIMD.store);
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

const binaries = new Map<boolean, Uint8Array>();

/** The module's binary for a plain (false) or a shared (true) memory. */
export function simdKernelsBinary(shared: boolean): Uint8Array {
  let binary = binaries.get(shared);
  if (!binary) {
    binary = assembleModule(
      [
        { name: 'gelu', body: geluBody() },
        { name: 'geluGrad', body: geluGradBody() },
        { name: 'copyRows', body: copyRowsBody() },
      ],
      shared,
    );
    binaries.set(shared, binary);
  }
  return binary;
}

/**
 * Instantiates the kernels on `memory`; undefined when this runtime cannot (no WebAssembly SIMD),
 * and the callers fall back to JavaScript loops.
 */
export function instantiateSimdKernels(memory: WasmMemory): SimdKernels | undefined {
  const api = webAssembly();
  if (!api) return undefined;
  const shared = typeof SharedArrayBuffer === 'function' && memory.buffer instanceof SharedArrayBuffer;
  try {
    const module = new api.Module(simdKernelsBinary(shared));
    const instance = new api.Instance(module, { env: { memory } });
    return instance.exports as unknown as SimdKernels;
  } catch {
    return undefined;
  }
}
