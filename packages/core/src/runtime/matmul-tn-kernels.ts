import { assembleModule, FunctionBody, I32, SIMD, V128, memoBinary, repeatedCallBody } from './wasm-assembler.js';
import { instantiateOnMemory, type WasmMemory } from './webassembly.js';
import { RELAXED_MADD, useRelaxedSimd } from './relaxed-simd.js';

/**
 * C += A^T B for tall A [M, K] and B [M, N] (row-major float32 on the tfjs-backend-wasm heap),
 * K and N multiples of 4: the weight gradient of a 1x1 convolution or a linear layer (A the
 * activations, B the output gradient, M = pixels). tfjs-wasm has no fast path for it: with the
 * transpose flag its matmul leaves XNNPACK, and without it XNNPACK packs the right operand,
 * here M x N floats that are new every step, on one thread (a [32, 50176] x [50176, 64] product
 * took 46 ms plus 13 ms for the explicit transpose, for 0.2 GFLOP).
 *
 * The kernel keeps a 4 x 8 block of C in eight registers and streams the rows of A and B past
 * it (per row: four broadcast loads from A, two vector loads from B, 16 multiply-adds: relaxed
 * SIMD's relaxed_madd where the runtime has it, relaxed-simd.ts), in blocks of rows that stay in
 * L2 across the blocks of C. N % 8 == 4 ends with a 4 x 4 block.
 */
export interface MatMulTNKernel {
  /**
   * c[k, n] += sum_m a[m, k] b[m, n] for m in [0, rows) (c = the sum where `init` is 1: C's old
   * values are not read, so it need not be zeroed first; rows >= 1 then); pointers in bytes; a's
   * rows are `lda` floats apart (lda >= k: a band of A's columns, for one thread's band of C's rows).
   */
  (a: number, b: number, c: number, rows: number, k: number, n: number, blockRows: number, lda: number, init: number): void;
}

/** `count` MatMulTNKernel calls, the pointers advanced by aStride, bStride and cStride bytes after each. */
export type MatMulTNBatchKernel = (a: number, b: number, c: number, rows: number, k: number, n: number, blockRows: number, lda: number, init: number, count: number, aStride: number, bStride: number, cStride: number) => void;

/** for (counter = from; counter < limit; counter += step) body() — all i32 locals but step. */
function loop(f: FunctionBody, counter: number, from: () => void, limit: () => void, step: number, body: () => void): void {
  from();
  f.set(counter);
  f.block().loop();
  f.get(counter);
  limit();
  f.i32GeU().brIf(1);
  body();
  f.get(counter).i32(step).i32Add().set(counter);
  f.br(0).end().end();
}

function body(fma: boolean): FunctionBody {
  const f = new FunctionBody([I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [a, b, c, rows, k, n, blockRows, lda, init] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [m0, mEnd, i, j, pa, pb, count, pc, rowA, rowB, n8, fresh] = Array.from({ length: 12 }, () => f.local(I32));
  const acc = Array.from({ length: 8 }, () => f.local(V128));
  const [b0, b1, s] = [f.local(V128), f.local(V128), f.local(V128)];
  f.get(lda).i32(4).i32Mul().set(rowA);
  f.get(n).i32(4).i32Mul().set(rowB);
  // the columns covered by whole 4 x 8 blocks
  f.get(n).get(n).i32(8).i32RemU().i32Sub().set(n8);

  /** One 4 x `width` block of C at (i, j) over rows [m0, mEnd). */
  const block = (width: 4 | 8): void => {
    const vectors = width / 4;
    for (let v = 0; v < 4 * vectors; v++) f.f32x4(0).set(acc[v]!);
    // pa = a + (m0 k + i) 4, pb = b + (m0 n + j) 4
    f.get(a).get(m0).get(rowA).i32Mul().i32Add().get(i).i32(4).i32Mul().i32Add().set(pa);
    f.get(b).get(m0).get(rowB).i32Mul().i32Add().get(j).i32(4).i32Mul().i32Add().set(pb);
    f.get(mEnd).get(m0).i32Sub().set(count);
    f.block().loop();
    f.get(count).i32Eqz().brIf(1);
    f.get(pb).simd(SIMD.load).set(b0);
    if (vectors === 2) f.get(pb).simd(SIMD.load, 16).set(b1);
    for (let lane = 0; lane < 4; lane++) {
      f.get(pa).simd(SIMD.load32Splat, lane * 4).set(s);
      for (let v = 0; v < vectors; v++) {
        const target = acc[lane * vectors + v]!;
        if (fma) f.get(s).get(v === 0 ? b0 : b1).get(target).simd(RELAXED_MADD).set(target);
        else f.get(target).get(s).get(v === 0 ? b0 : b1).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).set(target);
      }
    }
    f.get(pa).get(rowA).i32Add().set(pa);
    f.get(pb).get(rowB).i32Add().set(pb);
    f.get(count).i32(1).i32Sub().set(count);
    f.br(0).end().end();
    // C rows i..i+3, columns j..j+width: add the block's sums (to zeros, not C's old values, on
    // the first block of an `init` call: the same bits as zeroing C first)
    for (let lane = 0; lane < 4; lane++) {
      f.get(c).get(i).i32(lane).i32Add().get(rowB).i32Mul().i32Add().get(j).i32(4).i32Mul().i32Add().set(pc);
      for (let v = 0; v < vectors; v++) {
        f.get(pc).f32x4(0).get(pc).simd(SIMD.load, v * 16).get(fresh).select().get(acc[lane * vectors + v]!).simd(SIMD.f32x4Add).simd(SIMD.store, v * 16);
      }
    }
  };

  loop(
    f,
    m0,
    () => f.i32(0),
    () => f.get(rows),
    0,
    () => {
      // fresh = init && m0 == 0
      f.get(init).i32(0).get(m0).i32Eqz().select().set(fresh);
      f.get(m0).get(blockRows).i32Add().set(mEnd);
      f.get(mEnd).get(rows).i32GeU().if().get(rows).set(mEnd).end();
      loop(
        f,
        i,
        () => f.i32(0),
        () => f.get(k),
        4,
        () => {
          loop(f, j, () => f.i32(0), () => f.get(n8), 8, () => block(8));
          f.get(n8).get(n).i32LtU().if();
          f.get(n8).set(j);
          block(4);
          f.end();
        },
      );
      f.get(mEnd).set(m0);
    },
  );
  return f;
}

const binaryFor = memoBinary((shared, fma) =>
  assembleModule(
    [
      { name: 'matMulTN', body: body(fma) },
      // matMulTN's 9 parameters; a, b and c (0, 1, 2) advance
      { name: 'matMulTNBatch', body: repeatedCallBody(0, 9, [0, 1, 2]) },
    ],
    shared,
  ),
);

/** The module's binary for a plain (false) or a shared (true) memory, with relaxed_madd where this runtime has it. */
export function matMulTNBinary(shared: boolean): Uint8Array {
  return binaryFor(shared, useRelaxedSimd());
}

interface MatMulTNExports {
  matMulTN: MatMulTNKernel;
  matMulTNBatch: MatMulTNBatchKernel;
}

const instances = new WeakMap<WasmMemory, { fma: boolean; exports: MatMulTNExports | null }>();

function exportsOn(memory: WasmMemory): MatMulTNExports | undefined {
  const fma = useRelaxedSimd();
  const cached = instances.get(memory);
  let exports = cached?.fma === fma ? cached.exports : undefined;
  if (exports === undefined) {
    exports = (instantiateOnMemory(memory, matMulTNBinary) as MatMulTNExports | undefined) ?? null;
    instances.set(memory, { fma, exports });
  }
  return exports ?? undefined;
}

/** The kernel on `memory` (built with relaxed_madd where available); undefined where WebAssembly SIMD is unavailable. */
export function matMulTNKernel(memory: WasmMemory): MatMulTNKernel | undefined {
  return exportsOn(memory)?.matMulTN;
}

/** The batched kernel on `memory` (whole products per call: one share of a batch on the kernel pool). */
export function matMulTNBatchKernel(memory: WasmMemory): MatMulTNBatchKernel | undefined {
  return exportsOn(memory)?.matMulTNBatch;
}
