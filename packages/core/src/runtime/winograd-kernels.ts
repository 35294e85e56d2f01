import { transpose, WINOGRAD_F2, WINOGRAD_F4, type Matrix, type WinogradTransforms } from '../ops/winograd-transforms.js';
import { assembleModule, FunctionBody, I32, SIMD, V128, type ExportedFunction, memoBinary } from './wasm-assembler.js';
import { kernelPool, splitRange } from './kernel-pool.js';
import { instantiateOnMemory, type WasmMemory } from './webassembly.js';

/**
 * The tile transforms of a Winograd 3x3 convolution (ops/winograd.ts) as WebAssembly SIMD code
 * generated from the transform matrices: every coefficient is a compile-time constant (zeros
 * skipped, +-1 as adds and subtracts), four channels per vector, NHWC tensors on the
 * tfjs-backend-wasm heap (the module imports its memory). Pointers, strides and sizes in bytes.
 *
 * - gather: for every tile, reads a k x k window of an NHWC tensor at stride m and writes
 *   L window L^T (alpha x alpha) as one row of each of alpha^2 planes [T, C] (or, transposed,
 *   one column of planes [C, T]). Input transform: L = B^T, k = alpha. Gradient of the output
 *   transform: L = A, k = m.
 * - scatter: the inverse direction: reads a tile's row of alpha^2 planes [T, C] and writes (or
 *   adds, where windows overlap) R P R^T (k x k) into an NHWC tensor at stride m. Output
 *   transform: R = A^T, k = m, written. Gradient of the input transform: R = B, k = alpha, added.
 *
 * The tensors are padded beforehand so that every window lies inside: no bounds checks here.
 */
export interface WinogradGather {
  (src: number, n: number, tilesH: number, tilesW: number, vectors: number, pixelBytes: number, rowBytes: number, imageBytes: number, laneBytes: number, ...planes: number[]): void;
}
export interface WinogradScatter {
  (dst: number, n: number, tilesH: number, tilesW: number, vectors: number, pixelBytes: number, rowBytes: number, imageBytes: number, ...planes: number[]): void;
}

export interface WinogradKernels {
  /** B^T d B of alpha x alpha windows: planes [T, C]. */
  inputTransform: WinogradGather;
  /** The same, written as planes [C, T] (laneBytes = 4 T: the distance between channel rows). */
  inputTransformTransposed: WinogradGather;
  /** A dY A^T of m x m windows (the output transform's gradient): planes [T, C]. */
  gradOutputTransform: WinogradGather;
  /** A^T M A written as m x m output tiles. */
  outputTransform: WinogradScatter;
  /** B V B^T added into overlapping alpha x alpha windows (the input transform's gradient). */
  gradInputTransform: WinogradScatter;
}

/** Pushes sum_k coefficient_k * value_k (v128 locals), or a zero vector for no terms. */
function emitLinear(f: FunctionBody, terms: readonly [number, number][]): void {
  const nonZero = terms.filter(([, c]) => c !== 0);
  if (nonZero.length === 0) {
    f.f32x4(0);
    return;
  }
  nonZero.forEach(([local, c], index) => {
    f.get(local);
    const magnitude = Math.abs(c);
    if (magnitude !== 1) f.f32x4(index === 0 ? c : magnitude).simd(SIMD.f32x4Mul);
    else if (index === 0 && c < 0) f.simd(SIMD.f32x4Neg);
    if (index > 0) f.simd(c > 0 ? SIMD.f32x4Add : SIMD.f32x4Sub);
  });
}

/** out = mat . input . mat^T on v128 locals: input r x r, mat o x r, out o x o (new locals). */
function emitTransform(f: FunctionBody, input: number[][], mat: Matrix): number[][] {
  const o = mat.length;
  const r = input.length;
  const tmp = input.map((row) =>
    mat.map((matRow) => {
      emitLinear(
        f,
        row.map((local, j) => [local, matRow[j]!]),
      );
      const t = f.local(V128);
      f.set(t);
      return t;
    }),
  );
  const out: number[][] = [];
  for (let a = 0; a < o; a++) {
    const row: number[] = [];
    for (let b = 0; b < o; b++) {
      const terms: [number, number][] = [];
      for (let i = 0; i < r; i++) terms.push([tmp[i]![b]!, mat[a]![i]!]);
      emitLinear(f, terms);
      const t = f.local(V128);
      f.set(t);
      row.push(t);
    }
    out.push(row);
  }
  return out;
}

/** for (counter = 0; counter < limit; counter++) body() */
function countedLoop(f: FunctionBody, counter: number, limit: number, body: () => void): void {
  f.i32(0).set(counter);
  f.block().loop();
  f.get(counter).get(limit).i32GeU().brIf(1);
  body();
  f.get(counter).i32(1).i32Add().set(counter);
  f.br(0).end().end();
}

/** offsets[i][j] = i * rowBytes + j * pixelBytes, as i32 locals set on entry. */
function windowOffsets(f: FunctionBody, k: number, rowBytes: number, pixelBytes: number): number[][] {
  const offsets: number[][] = [];
  for (let i = 0; i < k; i++) {
    const row: number[] = [];
    for (let j = 0; j < k; j++) {
      const local = f.local(I32);
      f.get(rowBytes).i32(i).i32Mul().get(pixelBytes).i32(j).i32Mul().i32Add().set(local);
      row.push(local);
    }
    offsets.push(row);
  }
  return offsets;
}

/**
 * Walks the tiles in order (image, tile row, tile column) and, per tile, the channel vectors;
 * `perVector(windowPtr, tile)` runs with windowPtr = the window's top-left pixel plus the vector's
 * byte offset, and `tile` the tile's index.
 */
function tileLoops(
  f: FunctionBody,
  m: number,
  p: { base: number; n: number; tilesH: number; tilesW: number; vectors: number; pixelBytes: number; rowBytes: number; imageBytes: number },
  perVector: (windowPtr: number, tile: number, vector: number) => void,
): void {
  const [image, th, tw, c, rowBase, windowPtr, tile] = [f.local(I32), f.local(I32), f.local(I32), f.local(I32), f.local(I32), f.local(I32), f.local(I32)];
  f.i32(0).set(tile);
  countedLoop(f, image, p.n, () => {
    countedLoop(f, th, p.tilesH, () => {
      f.get(p.base).get(image).get(p.imageBytes).i32Mul().i32Add().get(th).get(p.rowBytes).i32(m).i32Mul().i32Mul().i32Add().set(rowBase);
      countedLoop(f, tw, p.tilesW, () => {
        f.get(rowBase).get(tw).get(p.pixelBytes).i32(m).i32Mul().i32Mul().i32Add().set(windowPtr);
        countedLoop(f, c, p.vectors, () => {
          perVector(windowPtr, tile, c);
          f.get(windowPtr).i32(16).i32Add().set(windowPtr);
        });
        f.get(tile).i32(1).i32Add().set(tile);
      });
    });
  });
}

function gatherBody(m: number, k: number, mat: Matrix, transposed: boolean): FunctionBody {
  const alpha = mat.length;
  const planeCount = alpha * alpha;
  const f = new FunctionBody(Array<typeof I32>(9 + planeCount).fill(I32));
  const [src, n, tilesH, tilesW, vectors, pixelBytes, rowBytes, imageBytes, laneBytes] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const planes = Array.from({ length: planeCount }, (_, i) => 9 + i);
  const offsets = windowOffsets(f, k, rowBytes, pixelBytes);
  const at = f.local(I32);
  tileLoops(f, m, { base: src, n, tilesH, tilesW, vectors, pixelBytes, rowBytes, imageBytes }, (windowPtr, tile, vector) => {
    const input = offsets.map((row) =>
      row.map((offset) => {
        const v = f.local(V128);
        f.get(windowPtr).get(offset).i32Add().simd(SIMD.load).set(v);
        return v;
      }),
    );
    const out = emitTransform(f, input, mat);
    if (!transposed) {
      // row `tile` of each [T, C] plane, at the vector's channels
      f.get(tile).get(pixelBytes).i32Mul().get(vector).i32(16).i32Mul().i32Add().set(at);
      out.flat().forEach((v, plane) => f.get(planes[plane]!).get(at).i32Add().get(v).simd(SIMD.store));
    } else {
      // column `tile` of each [C, T] plane: four channel rows per vector
      f.get(tile).i32(4).i32Mul().get(vector).get(laneBytes).i32(4).i32Mul().i32Mul().i32Add().set(at);
      const lane = f.local(I32);
      out.flat().forEach((v, plane) => {
        f.get(planes[plane]!).get(at).i32Add().set(lane);
        for (let l = 0; l < 4; l++) {
          f.get(lane);
          if (l > 0) f.get(laneBytes).i32(l).i32Mul().i32Add();
          f.get(v).f32x4ExtractLane(l).f32Store();
        }
      });
    }
  });
  return f;
}

function scatterBody(m: number, mat: Matrix, accumulate: boolean): FunctionBody {
  const alpha = mat[0]!.length;
  const k = mat.length;
  const planeCount = alpha * alpha;
  const f = new FunctionBody(Array<typeof I32>(8 + planeCount).fill(I32));
  const [dst, n, tilesH, tilesW, vectors, pixelBytes, rowBytes, imageBytes] = [0, 1, 2, 3, 4, 5, 6, 7];
  const planes = Array.from({ length: planeCount }, (_, i) => 8 + i);
  const offsets = windowOffsets(f, k, rowBytes, pixelBytes);
  const [at, addr] = [f.local(I32), f.local(I32)];
  tileLoops(f, m, { base: dst, n, tilesH, tilesW, vectors, pixelBytes, rowBytes, imageBytes }, (windowPtr, tile, vector) => {
    f.get(tile).get(pixelBytes).i32Mul().get(vector).i32(16).i32Mul().i32Add().set(at);
    const input: number[][] = [];
    for (let a = 0; a < alpha; a++) {
      const row: number[] = [];
      for (let b = 0; b < alpha; b++) {
        const v = f.local(V128);
        f.get(planes[a * alpha + b]!).get(at).i32Add().simd(SIMD.load).set(v);
        row.push(v);
      }
      input.push(row);
    }
    const out = emitTransform(f, input, mat);
    out.forEach((row, i) =>
      row.forEach((v, j) => {
        f.get(windowPtr).get(offsets[i]![j]!).i32Add();
        if (accumulate) {
          f.tee(addr).get(addr).simd(SIMD.load).get(v).simd(SIMD.f32x4Add).simd(SIMD.store);
        } else {
          f.get(v).simd(SIMD.store);
        }
      }),
    );
  });
  return f;
}

function functionsFor(t: WinogradTransforms): ExportedFunction[] {
  const B = transpose(t.BT);
  const A = transpose(t.AT);
  const name = (kernel: string): string => `${kernel}${t.m}`;
  return [
    { name: name('inputTransform'), body: gatherBody(t.m, t.alpha, t.BT, false) },
    { name: name('inputTransformTransposed'), body: gatherBody(t.m, t.alpha, t.BT, true) },
    { name: name('gradOutputTransform'), body: gatherBody(t.m, t.m, A, false) },
    { name: name('outputTransform'), body: scatterBody(t.m, t.AT, false) },
    { name: name('gradInputTransform'), body: scatterBody(t.m, B, true) },
  ];
}

export const winogradKernelsBinary = memoBinary((shared) => assembleModule([...functionsFor(WINOGRAD_F2), ...functionsFor(WINOGRAD_F4)], shared));

const instances = new WeakMap<WasmMemory, Map<number, WinogradKernels> | null>();

/** The kernels for F(m x m, 3 x 3) on `memory`; undefined where WebAssembly SIMD is unavailable. */
export function winogradKernels(memory: WasmMemory, m: 2 | 4): WinogradKernels | undefined {
  let byM = instances.get(memory);
  if (byM === undefined) {
    byM = instantiate(memory);
    instances.set(memory, byM);
  }
  return byM?.get(m);
}

function instantiate(memory: WasmMemory): Map<number, WinogradKernels> | null {
  const exports = instantiateOnMemory(memory, winogradKernelsBinary) as Record<string, WinogradGather & WinogradScatter> | undefined;
  if (!exports) return null;
  const byM = new Map<number, WinogradKernels>();
  for (const m of [2, 4]) {
    byM.set(m, {
      inputTransform: exports[`inputTransform${m}`]!,
      inputTransformTransposed: exports[`inputTransformTransposed${m}`]!,
      gradOutputTransform: exports[`gradOutputTransform${m}`]!,
      outputTransform: exports[`outputTransform${m}`]!,
      gradInputTransform: exports[`gradInputTransform${m}`]!,
    });
  }
  return byM;
}

/** Plane bytes below which a transform stays on one thread (waking the pool costs ~10-30 us). */
const PARALLEL_MIN_BYTES = 1 << 19;

/**
 * Runs the transform `name` (F(m x m, 3 x 3)) with `args` as the kernel takes them, on the kernel
 * pool's threads where the memory is shared and the call is large enough, else as one call. Shares
 * are whole images (n at least the thread count) or, for a single image, bands of tile rows, except
 * for gradInputTransform, whose windows overlap and are added: its shares are whole images only.
 * Every output element gets the same arithmetic as on one thread.
 */
export function runWinogradTransform(memory: WasmMemory, m: 2 | 4, name: keyof WinogradKernels, args: readonly number[]): void {
  const fn = winogradKernels(memory, m)![name] as (...a: number[]) => void;
  const pool = kernelPool(memory);
  const gather = name !== 'outputTransform' && name !== 'gradInputTransform';
  const first = gather ? 9 : 8;
  const [, n, tilesH, tilesW, vectors, pixelBytes, rowBytes, imageBytes] = args as [number, number, number, number, number, number, number, number];
  const planeBytes = n * tilesH * tilesW * vectors * 16 * (args.length - first);
  if (!pool || planeBytes < PARALLEL_MIN_BYTES) return fn(...args);
  // how far along a plane one tile is: a row of [T, C], or one float of the transposed [C, T]
  const tileBytes = name === 'inputTransformTransposed' ? 4 : pixelBytes;
  const share = (srcStep: number, tileStep: number, countArg: 1 | 2) => ([s, e]: [number, number]): number[] => {
    const a = args.slice();
    a[0]! += s * srcStep;
    a[countArg] = e - s;
    for (let i = first; i < a.length; i++) a[i]! += s * tileStep * tileBytes;
    return a;
  };
  let shares: number[][];
  if (n >= pool.threads) shares = splitRange(n, pool.threads).map(share(imageBytes, tilesH * tilesW, 1));
  else if (n === 1 && name !== 'gradInputTransform' && tilesH >= pool.threads) shares = splitRange(tilesH, pool.threads).map(share(m * rowBytes, tilesW, 2));
  else return fn(...args);
  pool.run(winogradKernelsBinary(true), `${name}${m}`, shares, fn);
}
