import { assembleModule, FunctionBody, I32, SIMD, V128 } from './wasm-assembler.js';
import { webAssembly, type WasmMemory } from './webassembly.js';

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
  /** out = (dy p1 + p2) - ((x - mean) p3) p4: dx with p1 = a, p2 = k1, p3 = inv, p4 = k2. */
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

/** One step of a row: `chan` pushes the byte offset of the vector in the row, `acc` its offset in the accumulator. */
type Step = (chan: () => void, acc: () => void) => void;

/**
 * Emits, for one row, step() over the whole vectors and then, if `tail` is not zero, over the
 * vector that ends at the row's end (accumulated at c4Bytes).
 */
function emitRow(f: FunctionBody, off: number, rowBytes: number, c4Bytes: number, tail: number, step: Step): void {
  f.i32(0).set(off);
  f.block().loop();
  f.get(off).get(c4Bytes).i32GeU().brIf(1);
  step(
    () => f.get(off),
    () => f.get(off),
  );
  f.get(off).i32(16).i32Add().set(off);
  f.br(0).end().end();
  f.get(tail).if();
  step(
    () => f.get(rowBytes).i32(16).i32Sub(),
    () => f.get(c4Bytes),
  );
  f.end();
}

/** Pushes the v128 at base + offset. */
function load(f: FunctionBody, base: number, offset: () => void): void {
  f.get(base);
  offset();
  f.i32Add().simd(SIMD.load);
}

function reductionBody(kind: Reduction): FunctionBody {
  const f = new FunctionBody(Array.from({ length: 12 }, () => I32));
  const [x, dy, rows, rowBytes, c4Bytes, tail, chunkRows, partials, partialBytes, cpBytes, mean, inv] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const [n, off, pa] = [f.local(I32), f.local(I32), f.local(I32)];
  const [g, h] = [f.local(V128), f.local(V128)];

  /** acc(at pa + extra) += the v128 on top of the stack (kept in `h`). */
  const accumulate = (extra: number): void => {
    f.set(h);
    f.get(pa).get(pa).simd(SIMD.load, extra).get(h).simd(SIMD.f32x4Add).simd(SIMD.store, extra);
  };
  const step: Step = (chan, acc) => {
    f.get(partials);
    acc();
    f.i32Add().set(pa);
    if (kind === 'sumRows' || kind === 'squaresRows') {
      load(f, x, chan);
      load(f, mean, chan);
      f.simd(SIMD.f32x4Sub);
    }
    if (kind === 'sumRows') {
      accumulate(0);
    } else if (kind === 'squaresRows') {
      f.set(g);
      f.get(g).get(g).simd(SIMD.f32x4Mul);
      accumulate(0);
    } else {
      // the second accumulator is cpBytes further on: a local offset, not an immediate, so add it to pa after the first
      load(f, dy, chan);
      f.set(g);
      f.get(g);
      accumulate(0);
      f.get(pa).get(cpBytes).i32Add().set(pa);
      load(f, x, chan);
      load(f, mean, chan);
      f.simd(SIMD.f32x4Sub);
      load(f, inv, chan);
      f.simd(SIMD.f32x4Mul).get(g).simd(SIMD.f32x4Mul);
      accumulate(0);
    }
  };

  // for each chunk: n = min(chunkRows, rows); zero its partials; add its n rows; next partials
  f.block().loop();
  f.get(rows).i32Eqz().brIf(1);
  f.get(chunkRows).get(rows).get(chunkRows).get(rows).i32LtU().select().set(n);
  f.get(rows).get(n).i32Sub().set(rows);
  f.i32(0).set(off);
  f.block().loop();
  f.get(off).get(partialBytes).i32GeU().brIf(1);
  f.get(partials).get(off).i32Add().f32x4(0).simd(SIMD.store);
  f.get(off).i32(16).i32Add().set(off);
  f.br(0).end().end();
  f.block().loop();
  f.get(n).i32Eqz().brIf(1);
  emitRow(f, off, rowBytes, c4Bytes, tail, step);
  f.get(x).get(rowBytes).i32Add().set(x);
  f.get(dy).get(rowBytes).i32Add().set(dy);
  f.get(n).i32(1).i32Sub().set(n);
  f.br(0).end().end();
  f.get(partials).get(partialBytes).i32Add().set(partials);
  f.br(0).end().end();
  return f;
}

function elementwiseBody(kind: Elementwise): FunctionBody {
  const f = new FunctionBody(Array.from({ length: 12 }, () => I32));
  const [x, dy, out, rows, rowBytes, c4Bytes, tail, mean, p1, p2, p3, p4] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const [off, po] = [f.local(I32), f.local(I32)];
  const step: Step = (chan) => {
    f.get(out);
    chan();
    f.i32Add().set(po);
    f.get(po);
    if (kind === 'normalizeRows') {
      load(f, x, chan);
      load(f, mean, chan);
      f.simd(SIMD.f32x4Sub);
      load(f, p1, chan);
      f.simd(SIMD.f32x4Mul);
      load(f, p2, chan);
      f.simd(SIMD.f32x4Add);
    } else {
      // the order of today's composite: (dy a + k1) - ((x - mean) inv) k2
      load(f, dy, chan);
      load(f, p1, chan);
      f.simd(SIMD.f32x4Mul);
      load(f, p2, chan);
      f.simd(SIMD.f32x4Add);
      load(f, x, chan);
      load(f, mean, chan);
      f.simd(SIMD.f32x4Sub);
      load(f, p3, chan);
      f.simd(SIMD.f32x4Mul);
      load(f, p4, chan);
      f.simd(SIMD.f32x4Mul).simd(SIMD.f32x4Sub);
    }
    f.simd(SIMD.store);
  };
  f.block().loop();
  f.get(rows).i32Eqz().brIf(1);
  emitRow(f, off, rowBytes, c4Bytes, tail, step);
  for (const p of [x, dy, out]) f.get(p).get(rowBytes).i32Add().set(p);
  f.get(rows).i32(1).i32Sub().set(rows);
  f.br(0).end().end();
  return f;
}

const binaries = new Map<boolean, Uint8Array>();

/** The module's binary for a plain (false) or a shared (true) memory. */
export function batchNormSimdBinary(shared: boolean): Uint8Array {
  let binary = binaries.get(shared);
  if (!binary) {
    binary = assembleModule(
      [
        { name: 'sumRows', body: reductionBody('sumRows') },
        { name: 'squaresRows', body: reductionBody('squaresRows') },
        { name: 'gradRows', body: reductionBody('gradRows') },
        { name: 'normalizeRows', body: elementwiseBody('normalizeRows') },
        { name: 'gradInputRows', body: elementwiseBody('gradInputRows') },
      ],
      shared,
    );
    binaries.set(shared, binary);
  }
  return binary;
}

const instances = new WeakMap<WasmMemory, BatchNormSimd | null>();

/** The kernels on `memory`; undefined where WebAssembly SIMD is unavailable. */
export function batchNormSimd(memory: WasmMemory): BatchNormSimd | undefined {
  let kernels = instances.get(memory);
  if (kernels === undefined) {
    kernels = null;
    const api = webAssembly();
    if (api) {
      const shared = typeof SharedArrayBuffer === 'function' && memory.buffer instanceof SharedArrayBuffer;
      try {
        kernels = new api.Instance(new api.Module(batchNormSimdBinary(shared)), { env: { memory } }).exports as unknown as BatchNormSimd;
      } catch {
        kernels = null;
      }
    }
    instances.set(memory, kernels);
  }
  return kernels ?? undefined;
}
