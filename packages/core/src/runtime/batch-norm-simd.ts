import { assembleModule, FunctionBody, I32, SIMD, V128, memoBinary } from './wasm-assembler.js';
import { instantiateOnMemory, perMemory } from './webassembly.js';

/**
 * BatchNorm's training passes as WebAssembly SIMD code on the tfjs-backend-wasm heap (the module
 * imports its memory). Tensors are read as rows of C float32 channels (channels-last); pointers,
 * strides and sizes are in bytes.
 *
 * Every row is walked as its whole 16-byte vectors (c4Bytes = 16 floor(C / 4)) and, when C is not
 * a multiple of 4, one more vector ending at the row's end (`tail`): it overlaps the last whole
 * one, so elementwise passes write those channels twice with the same value, and the reductions
 * add it into a separate vector of the accumulator (after the c4Bytes of the whole ones), which
 * the caller reads for the last channels. Per-channel parameters (mean, scale...) are [C] arrays
 * read at the same byte offset as the row.
 *
 * The reductions run over chunks of `chunkRows` rows and write one row of per-channel partial sums
 * per chunk (`partialBytes` apart): the caller fixes the chunking by size, hands each thread whole
 * chunks and adds the partials in chunk order, so the sums do not depend on the thread count.
 */
export interface BatchNormSimd {
  /** partial[k] = sum of x - shift over chunk k (`mean` is the shift: see batch-norm-kernels.ts). */
  sumRows: BatchNormReduce;
  /** partial[k] = sum of (x - mean)^2 over chunk k. */
  squaresRows: BatchNormReduce;
  /** partial[k] = sum of dy, then (at + cpBytes) sum of dy (x - mean) inv, over chunk k. */
  gradRows: BatchNormReduce;
  /** out = (x - mean) p1 + p2: the normalised output with p1 = inv weight, p2 = bias. */
  normalizeRows: BatchNormElementwise;
  /** out = (dy p1 + p2) + (x - mean) p3: dx with p1 = a, p2 = k1, p3 = k2 (p4 unused). */
  gradInputRows: BatchNormElementwise;
}

export type BatchNormReduce = (
  x: number,
  dy: number,
  rows: number,
  rowBytes: number,
  c4Bytes: number,
  tail: number,
  chunkRows: number,
  partials: number,
  partialBytes: number,
  cpBytes: number,
  mean: number,
  inv: number,
) => void;

export type BatchNormElementwise = (
  x: number,
  dy: number,
  out: number,
  rows: number,
  rowBytes: number,
  c4Bytes: number,
  tail: number,
  mean: number,
  p1: number,
  p2: number,
  p3: number,
  p4: number,
) => void;

type Reduction = 'sumRows' | 'squaresRows' | 'gradRows';
type Elementwise = 'normalizeRows' | 'gradInputRows';

/** Vectors per step: one address computation per input serves four vectors (immediate offsets). */
const BLOCK = 4;

/**
 * for (off = 0; off + 16 width <= c4Bytes; off += 16 width) run(width, off, off) for width 4,
 * then 1; then, if `tail`, run(1, rowBytes - 16, c4Bytes) for the vector that ends at the row's end.
 * (Also the row walk of channel-style-simd.ts, whose rows have the same layout.)
 */
export function emitBlocks(f: FunctionBody, off: number, rowBytes: number, c4Bytes: number, tail: number, run: (width: number, chan: () => void, acc: () => void) => void): void {
  f.i32(0).set(off);
  for (const width of [BLOCK, 1]) {
    f.block().loop();
    // exit when c4Bytes < off + 16 width
    f.get(c4Bytes).get(off).i32(16 * width).i32Add().i32LtU().brIf(1);
    run(
      width,
      () => f.get(off),
      () => f.get(off),
    );
    f.get(off).i32(16 * width).i32Add().set(off);
    f.br(0).end().end();
  }
  f.get(tail).if();
  run(
    1,
    () => f.get(rowBytes).i32(16).i32Sub(),
    () => f.get(c4Bytes),
  );
  f.end();
}

/** Stores 0 to the `bytes` (param or local; a multiple of 16) at `base` (`off` is scratch). */
export function emitZero(f: FunctionBody, base: number, bytes: number, off: number): void {
  f.i32(0).set(off);
  f.block().loop();
  f.get(off).get(bytes).i32GeU().brIf(1);
  f.get(base).get(off).i32Add().f32x4(0).simd(SIMD.store);
  f.get(off).i32(16).i32Add().set(off);
  f.br(0).end().end();
}

/** Sets `local` = base + offset. */
export function setAt(f: FunctionBody, local: number, base: number, offset: () => void): void {
  f.get(base);
  offset();
  f.i32Add().set(local);
}

/**
 * Per chunk, row by row (one sequential stream through memory per input): the chunk's partial row
 * is the accumulator, loaded and stored per vector (it stays in L1), four vectors per step at
 * immediate offsets. Keeping a block's sums in registers while walking its column down the chunk
 * was faster on tensors in cache but half as fast on ones streamed from DRAM (strided reads).
 */
function reductionBody(kind: Reduction): FunctionBody {
  const f = new FunctionBody(Array.from({ length: 12 }, () => I32));
  const [x, dy, rows, rowBytes, c4Bytes, tail, chunkRows, partials, partialBytes, cpBytes, mean, inv] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const [n, off, px, pdy, pm, pinv, pa, pb] = Array.from({ length: 8 }, () => f.local(I32));
  const [g, h] = [f.local(V128), f.local(V128)];
  /** acc(at `ptr` + at) += the v128 pushed by value(). */
  const add = (ptr: number, at: number, value: () => void): void => {
    f.get(ptr).get(ptr).simd(SIMD.load, at);
    value();
    f.simd(SIMD.f32x4Add).simd(SIMD.store, at);
  };
  const run = (width: number, chan: () => void, accOff: () => void): void => {
    setAt(f, px, x, chan);
    setAt(f, pm, mean, chan);
    setAt(f, pa, partials, accOff);
    if (kind === 'gradRows') {
      setAt(f, pdy, dy, chan);
      setAt(f, pinv, inv, chan);
      f.get(pa).get(cpBytes).i32Add().set(pb);
    }
    for (let i = 0; i < width; i++) {
      const at = 16 * i;
      if (kind === 'sumRows') {
        add(pa, at, () => f.get(px).simd(SIMD.load, at).get(pm).simd(SIMD.load, at).simd(SIMD.f32x4Sub));
      } else if (kind === 'squaresRows') {
        f.get(px).simd(SIMD.load, at).get(pm).simd(SIMD.load, at).simd(SIMD.f32x4Sub).set(g);
        add(pa, at, () => f.get(g).get(g).simd(SIMD.f32x4Mul));
      } else {
        f.get(pdy).simd(SIMD.load, at).set(g);
        add(pa, at, () => f.get(g));
        f.get(px).simd(SIMD.load, at).get(pm).simd(SIMD.load, at).simd(SIMD.f32x4Sub);
        f.get(pinv).simd(SIMD.load, at).simd(SIMD.f32x4Mul).set(h);
        add(pb, at, () => f.get(g).get(h).simd(SIMD.f32x4Mul));
      }
    }
  };
  f.block().loop();
  f.get(rows).i32Eqz().brIf(1);
  f.get(chunkRows).get(rows).get(chunkRows).get(rows).i32LtU().select().set(n);
  f.get(rows).get(n).i32Sub().set(rows);
  emitZero(f, partials, partialBytes, off);
  f.block().loop();
  f.get(n).i32Eqz().brIf(1);
  emitBlocks(f, off, rowBytes, c4Bytes, tail, run);
  f.get(x).get(rowBytes).i32Add().set(x);
  f.get(dy).get(rowBytes).i32Add().set(dy);
  f.get(n).i32(1).i32Sub().set(n);
  f.br(0).end().end();
  f.get(partials).get(partialBytes).i32Add().set(partials);
  f.br(0).end().end();
  return f;
}

/** Row by row (a single stream through memory), four vectors per step at immediate offsets. */
function elementwiseBody(kind: Elementwise): FunctionBody {
  const f = new FunctionBody(Array.from({ length: 12 }, () => I32));
  const [x, dy, out, rows, rowBytes, c4Bytes, tail, mean, p1, p2, p3] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const [off, px, pdy, po, pm, q1, q2, q3] = Array.from({ length: 8 }, () => f.local(I32));
  const run = (width: number, chan: () => void): void => {
    for (const [local, base] of [
      [px, x],
      [pdy, dy],
      [po, out],
      [pm, mean],
      [q1, p1],
      [q2, p2],
      [q3, p3],
    ] as const) {
      setAt(f, local, base, chan);
    }
    for (let i = 0; i < width; i++) {
      const at = 16 * i;
      f.get(po);
      if (kind === 'normalizeRows') {
        // (x - mean) scale + bias: centring first keeps a large offset from costing precision
        f.get(px).simd(SIMD.load, at).get(pm).simd(SIMD.load, at).simd(SIMD.f32x4Sub);
        f.get(q1).simd(SIMD.load, at).simd(SIMD.f32x4Mul);
        f.get(q2).simd(SIMD.load, at).simd(SIMD.f32x4Add);
      } else {
        // (dy a + k1) + (x - mean) k2
        f.get(pdy).simd(SIMD.load, at).get(q1).simd(SIMD.load, at).simd(SIMD.f32x4Mul);
        f.get(q2).simd(SIMD.load, at).simd(SIMD.f32x4Add);
        f.get(px).simd(SIMD.load, at).get(pm).simd(SIMD.load, at).simd(SIMD.f32x4Sub);
        f.get(q3).simd(SIMD.load, at).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add);
      }
      f.simd(SIMD.store, at);
    }
  };
  f.block().loop();
  f.get(rows).i32Eqz().brIf(1);
  emitBlocks(f, off, rowBytes, c4Bytes, tail, (width, chan) => run(width, chan));
  for (const p of [x, dy, out]) f.get(p).get(rowBytes).i32Add().set(p);
  f.get(rows).i32(1).i32Sub().set(rows);
  f.br(0).end().end();
  return f;
}

/** The module's binary for a plain (false) or a shared (true) memory. */
export const batchNormSimdBinary = memoBinary((shared) =>
  assembleModule(
    [
      { name: 'sumRows', body: reductionBody('sumRows') },
      { name: 'squaresRows', body: reductionBody('squaresRows') },
      { name: 'gradRows', body: reductionBody('gradRows') },
      { name: 'normalizeRows', body: elementwiseBody('normalizeRows') },
      { name: 'gradInputRows', body: elementwiseBody('gradInputRows') },
    ],
    shared,
  ),
);

/** The kernels on `memory`; undefined where WebAssembly SIMD is unavailable. */
export const batchNormSimd = perMemory((memory) => instantiateOnMemory(memory, batchNormSimdBinary) as BatchNormSimd | undefined);
