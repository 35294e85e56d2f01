import { emitBlocks, emitZero, setAt } from './batch-norm-simd.js';
import { assembleModule, F32, FunctionBody, I32, SIMD, V128, memoBinary } from './wasm-assembler.js';
import { instantiateOnMemory, perMemory } from './webassembly.js';

/**
 * Per-image channel statistics and the per-image channel gate of channels-last maps, as
 * WebAssembly SIMD code on the tfjs-backend-wasm heap (the module imports its memory): the kernels
 * behind ops/channel-style.ts. An image is `pixels` rows of C float32 channels; rows are walked as
 * in batch-norm-simd.ts (its emitBlocks: whole 16-byte vectors, then one overlapping vector at the
 * row's end when C is not a multiple of 4, with its own accumulator vector after the c4Bytes of
 * the whole ones). Per-image parameters (a gate row, coefficients) are read at the row's byte
 * offsets. Pointers, strides and sizes in bytes.
 *
 * The reductions (styleImages, gateGradImages) run image by image over a span of channels: the
 * whole vectors from x (which may point into the row) over c4Bytes, then, if `tail`, the vector
 * that ends `span` bytes further (the row's end). Each channel's sums are made in a fixed order,
 * float32 per chunk of CHUNK_ROWS rows, chunks added in order, and lanes never mix, so the caller
 * may hand any images and channel spans to any thread and get the same bits. The row kernels
 * (gateRows, gateShiftRows, styleGradRows) are elementwise and take any range of rows: `left`
 * rows of the first image remain before `coef` moves on to the next image's row (`coefBytes`
 * further).
 */
export interface ChannelStyleSimd {
  /**
   * Per image: out[0, C) = mean over the rows, out[C, 2C) = sqrt(sum (x - mean)^2 / p1), two
   * passes (the first sums x - x[first row], so a large offset costs no precision). `scratch`
   * holds two accumulators (2 cpBytes). `p` = pixels and `p1` = pixels - 1 as floats.
   */
  styleImages: (x: number, out: number, scratch: number, images: number, pixels: number, rowBytes: number, c4Bytes: number, tail: number, cpBytes: number, span: number, p: number, p1: number) => void;
  /** Per image: dx = dy gate, dgate = sum over the rows of dy x (one pass). */
  gateGradImages: (x: number, dy: number, gate: number, dx: number, dgate: number, scratch: number, images: number, pixels: number, rowBytes: number, c4Bytes: number, tail: number, cpBytes: number, span: number) => void;
  /** out = x coef (`shift` unused). */
  gateRows: ChannelRows;
  /** out = x coef + shift (shift: one [C] row for all images). */
  gateShiftRows: ChannelRows;
  /** out = a + k (x - mean) with a, k, mean the coefficient row's three [C] parts (`shift` unused). */
  styleGradRows: ChannelRows;
}

export type ChannelRows = (x: number, out: number, coef: number, shift: number, rows: number, rowBytes: number, c4Bytes: number, tail: number, left: number, pixels: number, coefBytes: number) => void;

type RowKind = 'gateRows' | 'gateShiftRows' | 'styleGradRows';

/** Rows per float32 partial sum: a lane adds at most this many terms before the chunk joins the total. */
export const CHUNK_ROWS = 64;

/** total += chunk, then chunk = 0, over `bytes`. */
function emitFold(f: FunctionBody, total: number, chunk: number, bytes: number, off: number, p: number): void {
  f.i32(0).set(off);
  f.block().loop();
  f.get(off).get(bytes).i32GeU().brIf(1);
  f.get(total).get(off).i32Add().tee(p).get(p).simd(SIMD.load);
  f.get(chunk).get(off).i32Add().simd(SIMD.load).simd(SIMD.f32x4Add).simd(SIMD.store);
  f.get(chunk).get(off).i32Add().f32x4(0).simd(SIMD.store);
  f.get(off).i32(16).i32Add().set(off);
  f.br(0).end().end();
}

interface RowShape {
  rowBytes: number;
  /** Bytes from the channel span's start to the row's end (where the tail vector ends). */
  span: number;
  c4Bytes: number;
  tail: number;
  cpBytes: number;
}

interface ReductionLocals {
  off: number;
  walk: number;
  left: number;
  n: number;
  p: number;
  chunk: number;
  total: number;
}

/**
 * One image's `pixels` rows: `run` adds each row's vectors into the chunk accumulator, which is
 * folded into the total after every CHUNK_ROWS rows; the pointers in `advance` move one row per
 * row (so they end at the next image).
 */
function emitImageRows(f: FunctionBody, s: RowShape, l: ReductionLocals, pixels: number, advance: readonly number[], run: (width: number, chan: () => void, acc: () => void) => void): void {
  emitZero(f, l.total, s.cpBytes, l.walk);
  emitZero(f, l.chunk, s.cpBytes, l.walk);
  f.get(pixels).set(l.left);
  f.block().loop();
  f.get(l.left).i32Eqz().brIf(1);
  f.i32(CHUNK_ROWS).get(l.left).i32(CHUNK_ROWS).get(l.left).i32LtU().select().set(l.n);
  f.get(l.left).get(l.n).i32Sub().set(l.left);
  f.block().loop();
  f.get(l.n).i32Eqz().brIf(1);
  emitBlocks(f, l.off, s.span, s.c4Bytes, s.tail, run);
  for (const p of advance) f.get(p).get(s.rowBytes).i32Add().set(p);
  f.get(l.n).i32(1).i32Sub().set(l.n);
  f.br(0).end().end();
  emitFold(f, l.total, l.chunk, s.cpBytes, l.walk, l.p);
  f.br(0).end().end();
}

function reductionLocals(f: FunctionBody, scratch: number, cpBytes: number): ReductionLocals {
  const [off, walk, left, n, p, chunk, total] = Array.from({ length: 7 }, () => f.local(I32));
  const l = { off: off!, walk: walk!, left: left!, n: n!, p: p!, chunk: chunk!, total: total! };
  f.get(scratch).set(l.chunk);
  f.get(scratch).get(cpBytes).i32Add().set(l.total);
  return l;
}

function styleImagesBody(): FunctionBody {
  const f = new FunctionBody([I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, F32, F32]);
  const [x, out, scratch, images, pixels, rowBytes, c4Bytes, tail, cpBytes, span, p, p1] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const s = { rowBytes, span, c4Bytes, tail, cpBytes };
  const l = reductionLocals(f, scratch, cpBytes);
  const [px, pa, pb, q] = [f.local(I32), f.local(I32), f.local(I32), f.local(I32)];
  const [vp, vp1, v] = [f.local(V128), f.local(V128), f.local(V128)];
  f.get(p).simd(SIMD.f32x4Splat).set(vp);
  f.get(p1).simd(SIMD.f32x4Splat).set(vp1);
  /** Pass over the image: the chunk accumulator += (x - shift), squared when `square`. */
  const pass = (shift: number, square: boolean): void => {
    f.get(x).set(px);
    emitImageRows(f, s, l, pixels, [px], (width, chan, acc) => {
      setAt(f, pa, px, chan);
      setAt(f, pb, shift, chan);
      setAt(f, q, l.chunk, acc);
      for (let i = 0; i < width; i++) {
        const at = 16 * i;
        f.get(pa).simd(SIMD.load, at).get(pb).simd(SIMD.load, at).simd(SIMD.f32x4Sub).set(v);
        f.get(q).get(q).simd(SIMD.load, at).get(v);
        if (square) f.get(v).simd(SIMD.f32x4Mul);
        f.simd(SIMD.f32x4Add).simd(SIMD.store, at);
      }
    });
  };
  f.block().loop();
  f.get(images).i32Eqz().brIf(1);
  // mean = x[first row] + sum (x - x[first row]) / p, into out[0, C)
  pass(x, false);
  emitBlocks(f, l.off, span, c4Bytes, tail, (width, chan, acc) => {
    setAt(f, pa, out, chan);
    setAt(f, pb, x, chan);
    setAt(f, q, l.total, acc);
    for (let i = 0; i < width; i++) {
      const at = 16 * i;
      f.get(pa).get(pb).simd(SIMD.load, at).get(q).simd(SIMD.load, at).get(vp).simd(SIMD.f32x4Div).simd(SIMD.f32x4Add).simd(SIMD.store, at);
    }
  });
  // std = sqrt(sum (x - mean)^2 / (p - 1)), into out[C, 2C)
  pass(out, true);
  emitBlocks(f, l.off, span, c4Bytes, tail, (width, chan, acc) => {
    setAt(f, pa, out, () => {
      chan();
      f.get(rowBytes).i32Add();
    });
    setAt(f, q, l.total, acc);
    for (let i = 0; i < width; i++) {
      const at = 16 * i;
      f.get(pa).get(q).simd(SIMD.load, at).get(vp1).simd(SIMD.f32x4Div).simd(SIMD.f32x4Sqrt).simd(SIMD.store, at);
    }
  });
  f.get(px).set(x);
  f.get(out).get(rowBytes).get(rowBytes).i32Add().i32Add().set(out);
  f.get(images).i32(1).i32Sub().set(images);
  f.br(0).end().end();
  return f;
}

function gateGradImagesBody(): FunctionBody {
  const f = new FunctionBody(Array.from({ length: 13 }, () => I32));
  const [x, dy, gate, dx, dgate, scratch, images, pixels, rowBytes, c4Bytes, tail, cpBytes, span] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const s = { rowBytes, span, c4Bytes, tail, cpBytes };
  const l = reductionLocals(f, scratch, cpBytes);
  const [px, pd, po, pg, q] = Array.from({ length: 5 }, () => f.local(I32)) as [number, number, number, number, number];
  const v = f.local(V128);
  f.block().loop();
  f.get(images).i32Eqz().brIf(1);
  emitImageRows(f, s, l, pixels, [x, dy, dx], (width, chan, acc) => {
    setAt(f, px, x, chan);
    setAt(f, pd, dy, chan);
    setAt(f, po, dx, chan);
    setAt(f, pg, gate, chan);
    setAt(f, q, l.chunk, acc);
    for (let i = 0; i < width; i++) {
      const at = 16 * i;
      f.get(pd).simd(SIMD.load, at).set(v);
      f.get(po).get(v).get(pg).simd(SIMD.load, at).simd(SIMD.f32x4Mul).simd(SIMD.store, at);
      f.get(q).get(q).simd(SIMD.load, at).get(v).get(px).simd(SIMD.load, at).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).simd(SIMD.store, at);
    }
  });
  emitBlocks(f, l.off, span, c4Bytes, tail, (width, chan, acc) => {
    setAt(f, po, dgate, chan);
    setAt(f, q, l.total, acc);
    for (let i = 0; i < width; i++) f.get(po).get(q).simd(SIMD.load, 16 * i).simd(SIMD.store, 16 * i);
  });
  for (const p of [gate, dgate]) f.get(p).get(rowBytes).i32Add().set(p);
  f.get(images).i32(1).i32Sub().set(images);
  f.br(0).end().end();
  return f;
}

function rowsBody(kind: RowKind): FunctionBody {
  const f = new FunctionBody(Array.from({ length: 11 }, () => I32));
  const [x, out, coef, shift, rows, rowBytes, c4Bytes, tail, left, pixels, coefBytes] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const [off, px, po, pc, ps, pk, pm] = Array.from({ length: 7 }, () => f.local(I32)) as [number, number, number, number, number, number, number];
  f.block().loop();
  f.get(rows).i32Eqz().brIf(1);
  // the next image's coefficients
  f.get(left).i32Eqz().if();
  f.get(coef).get(coefBytes).i32Add().set(coef);
  f.get(pixels).set(left);
  f.end();
  f.get(left).i32(1).i32Sub().set(left);
  emitBlocks(f, off, rowBytes, c4Bytes, tail, (width, chan) => {
    setAt(f, px, x, chan);
    setAt(f, po, out, chan);
    setAt(f, pc, coef, chan);
    if (kind === 'gateShiftRows') setAt(f, ps, shift, chan);
    if (kind === 'styleGradRows') {
      f.get(pc).get(rowBytes).i32Add().tee(pk).get(rowBytes).i32Add().set(pm);
    }
    for (let i = 0; i < width; i++) {
      const at = 16 * i;
      f.get(po);
      if (kind === 'styleGradRows') {
        // a + k (x - mean)
        f.get(pc).simd(SIMD.load, at);
        f.get(pk).simd(SIMD.load, at).get(px).simd(SIMD.load, at).get(pm).simd(SIMD.load, at).simd(SIMD.f32x4Sub).simd(SIMD.f32x4Mul);
        f.simd(SIMD.f32x4Add);
      } else {
        f.get(px).simd(SIMD.load, at).get(pc).simd(SIMD.load, at).simd(SIMD.f32x4Mul);
        if (kind === 'gateShiftRows') f.get(ps).simd(SIMD.load, at).simd(SIMD.f32x4Add);
      }
      f.simd(SIMD.store, at);
    }
  });
  for (const p of [x, out]) f.get(p).get(rowBytes).i32Add().set(p);
  f.get(rows).i32(1).i32Sub().set(rows);
  f.br(0).end().end();
  return f;
}

/** The module's binary for a plain (false) or a shared (true) memory. */
export const channelStyleSimdBinary = memoBinary((shared) =>
  assembleModule(
    [
      { name: 'styleImages', body: styleImagesBody() },
      { name: 'gateGradImages', body: gateGradImagesBody() },
      ...(['gateRows', 'gateShiftRows', 'styleGradRows'] as const).map((kind) => ({ name: kind, body: rowsBody(kind) })),
    ],
    shared,
  ),
);

/** The kernels on `memory`; undefined where WebAssembly SIMD is unavailable. */
export const channelStyleSimd = perMemory((memory) => instantiateOnMemory(memory, channelStyleSimdBinary) as ChannelStyleSimd | undefined);
