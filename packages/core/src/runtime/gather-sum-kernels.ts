import { assembleModule, FunctionBody, I32, SIMD, V128, memoBinary } from './wasm-assembler.js';
import { instantiateOnMemory, perMemory } from './webassembly.js';

/**
 * Weighted sums of gathered rows and their adjoint, as WebAssembly SIMD kernels on the
 * tfjs-backend-wasm heap (ops/gather-weighted-sum.ts; RoIAlign's bins are such sums of feature
 * rows). For a table of R rows of C floats, `index` and `weight` of B rows of T taps:
 *
 * - gatherSum: out[b, c] = sum over t of weight[b, t] * table[index[b, t], c], the taps in order;
 * - scatterAdd: grad[index[b, t], c] += weight[b, t] * dy[b, c], over b then t in order (grad is
 *   zeroed by the caller).
 *
 * Both take a range of columns [c0, c1) (byte offsets within a row, multiples of GATHER_BLOCK_BYTES)
 * and gatherSum a count of rows from its pointers, so a caller splits gatherSum over rows and
 * scatterAdd over columns: every output element is then computed by one thread in one order,
 * whatever the thread count (rows scattered by different b land on the same grad row, so
 * scatterAdd cannot be split over b). Products and sums are separate float32 operations (no
 * multiply-add), as tfjs's composite does them. Pointers and row strides in bytes.
 */
export const GATHER_BLOCK_FLOATS = 16;
export const GATHER_BLOCK_BYTES = 4 * GATHER_BLOCK_FLOATS;
const VECTORS = GATHER_BLOCK_FLOATS / 4;

export type GatherSumFn = (table: number, index: number, weight: number, out: number, rows: number, taps: number, rowBytes: number, c0: number, c1: number) => void;
export type ScatterAddFn = (dy: number, index: number, weight: number, grad: number, rows: number, taps: number, rowBytes: number, c0: number, c1: number) => void;

/**
 * Both kernels walk rows, then blocks of GATHER_BLOCK_FLOATS columns, then taps in order. Each has
 * one operand addressed by the row it walks (`ownRow`: gather's output, written once per block;
 * scatter's dy, read once per block) and one by each tap's index (`tapRows`: gather's table, read;
 * scatter's gradient, read and written).
 */
function body(kind: 'gather' | 'scatter'): FunctionBody {
  const gather = kind === 'gather';
  // gather: (table, index, weight, out, ...); scatter: (dy, index, weight, grad, ...)
  const [first, index, weight, fourth, rows, taps, rowBytes, c0, c1] = Array.from({ length: 9 }, (_, i) => i);
  const [tapRows, ownRow] = gather ? [first, fourth] : [fourth, first];
  const f = new FunctionBody(new Array(9).fill(I32));
  const [c, ip, wp, t, at] = Array.from({ length: 5 }, () => f.local(I32));
  const vectors = Array.from({ length: VECTORS }, () => f.local(V128));
  const w = f.local(V128);
  f.block().loop(); // rows (of out, or of dy)
  {
    f.get(rows).i32Eqz().brIf(1);
    f.get(c0).set(c);
    f.block().loop(); // column blocks
    {
      f.get(c).get(c1).i32LtS().i32Eqz().brIf(1);
      // gather: sums from 0; scatter: this row's dy block
      if (gather) for (const v of vectors) f.f32x4(0).set(v);
      else vectors.forEach((v, i) => f.get(ownRow).get(c).i32Add().simd(SIMD.load, 16 * i).set(v));
      f.get(index).set(ip);
      f.get(weight).set(wp);
      f.get(taps).set(t);
      f.block().loop(); // taps, in order
      {
        f.get(t).i32Eqz().brIf(1);
        f.get(wp).simd(SIMD.load32Splat).set(w);
        f.get(tapRows).get(ip).i32Load().get(rowBytes).i32Mul().i32Add().get(c).i32Add().set(at);
        if (gather) vectors.forEach((v, i) => f.get(v).get(at).simd(SIMD.load, 16 * i).get(w).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).set(v));
        else vectors.forEach((v, i) => f.get(at).get(at).simd(SIMD.load, 16 * i).get(v).get(w).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).simd(SIMD.store, 16 * i));
        f.get(ip).i32(4).i32Add().set(ip);
        f.get(wp).i32(4).i32Add().set(wp);
        f.get(t).i32(1).i32Sub().set(t);
        f.br(0);
      }
      f.end().end();
      if (gather) vectors.forEach((v, i) => f.get(ownRow).get(c).i32Add().get(v).simd(SIMD.store, 16 * i));
      f.get(c).i32(GATHER_BLOCK_BYTES).i32Add().set(c);
      f.br(0);
    }
    f.end().end();
    f.get(index).get(taps).i32(4).i32Mul().i32Add().set(index);
    f.get(weight).get(taps).i32(4).i32Mul().i32Add().set(weight);
    f.get(ownRow).get(rowBytes).i32Add().set(ownRow);
    f.get(rows).i32(1).i32Sub().set(rows);
    f.br(0);
  }
  f.end().end();
  return f;
}

/** The module for a plain (false) or a shared (true) memory. */
export const gatherSumBinary = memoBinary((shared) =>
  assembleModule(
    [
      { name: 'gatherSum', body: body('gather') },
      { name: 'scatterAdd', body: body('scatter') },
    ],
    shared,
  ),
);

export interface GatherSumKernels {
  gatherSum: GatherSumFn;
  scatterAdd: ScatterAddFn;
}

/** The kernels on `memory`; undefined where WebAssembly SIMD is unavailable. */
export const gatherSumKernels = perMemory((memory) => instantiateOnMemory(memory, gatherSumBinary) as GatherSumKernels | undefined);
