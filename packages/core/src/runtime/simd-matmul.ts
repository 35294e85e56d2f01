import { FunctionBody, I32, SIMD, V128, repeatedCallBody } from './wasm-assembler.js';
import { RELAXED_MADD } from './relaxed-simd.js';

/**
 * Matrix product bodies for the SIMD module (simd-kernels.ts). C = A B for one matrix of a batch,
 * all addresses and strides in bytes:
 * - A(i, p) at a + i aRow + p aCol: any strides, each element is read on its own and splatted,
 *   so a transposed A (aRow = 4, aCol = 4 M) costs nothing extra;
 * - B(p, j) at b + p bRow + 4 j: rows contiguous (a transposed B is packed first, `transpose`);
 * - C(i, j) at c + i cRow + 4 j;
 * - bias: 0 for none, else N floats added to every row (the sums start from them).
 * Register tile of MATMUL_TILE_ROWS x MATMUL_TILE_COLS outputs (8 accumulators of 4 floats), the
 * sum over p in order, as float32 multiply-adds: with `fma`, relaxed SIMD's relaxed_madd
 * (relaxed-simd.ts), else a multiply and an add (SIMD128 has no FMA). M and N need
 * not be multiples of the tile: the last tile of a row or column block is moved back to end at
 * M or N and recomputes a few outputs, which it writes with the same bits (same sums, same
 * order), so M >= 4 and N >= 8 is all the kernel asks; K >= 1.
 *
 * `accumulate` builds C += A B instead (no bias parameter): the sums start from C's values. A
 * float32 sum stored and loaded again is the same float32, so a product split along K into calls
 * that accumulate gives the bits of one call over all of K (the blocked product, wasm-matmul.ts).
 * Here a tile moved back would add its overlap twice, so M must be a multiple of 4 and N of 8.
 */
export const MATMUL_TILE_ROWS = 4;
export const MATMUL_TILE_COLS = 8;

export function matmulBody(fma: boolean, accumulate = false): FunctionBody {
  const [a, aRow, aCol, b, bRow, c, cRow, m, n, k, bias] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const f = new FunctionBody(new Array(accumulate ? 10 : 11).fill(I32));
  const [i, j, ii, jj, p, mLast, nLast, aBase, bp, cp] = Array.from({ length: 10 }, () => f.local(I32));
  const rowPtr = Array.from({ length: MATMUL_TILE_ROWS }, () => f.local(I32));
  const acc = Array.from({ length: 2 * MATMUL_TILE_ROWS }, () => f.local(V128));
  const [b0, b1, s] = [f.local(V128), f.local(V128), f.local(V128)];
  /** dst = min(x, last) (signed) */
  const minInto = (dst: number, x: number, last: number): void => {
    f.get(x).get(last).get(x).get(last).i32LtS().select().set(dst);
  };

  f.get(m).i32(MATMUL_TILE_ROWS).i32Sub().set(mLast);
  f.get(n).i32(MATMUL_TILE_COLS).i32Sub().set(nLast);
  f.i32(0).set(i);
  f.loop(); // row blocks
  {
    minInto(ii, i, mLast);
    f.get(a).get(ii).get(aRow).i32Mul().i32Add().set(aBase);
    f.i32(0).set(j);
    f.loop(); // column blocks
    {
      minInto(jj, j, nLast);
      f.get(aBase).set(rowPtr[0]!);
      for (let r = 1; r < MATMUL_TILE_ROWS; r++) f.get(rowPtr[r - 1]!).get(aRow).i32Add().set(rowPtr[r]!);
      f.get(b).get(jj).i32(4).i32Mul().i32Add().set(bp);
      if (accumulate) {
        f.get(c).get(ii).get(cRow).i32Mul().i32Add().get(jj).i32(4).i32Mul().i32Add().set(cp);
        for (let r = 0; r < MATMUL_TILE_ROWS; r++) {
          f.get(cp).simd(SIMD.load).set(acc[2 * r]!);
          f.get(cp).simd(SIMD.load, 16).set(acc[2 * r + 1]!);
          if (r + 1 < MATMUL_TILE_ROWS) f.get(cp).get(cRow).i32Add().set(cp);
        }
      } else {
        f.get(bias).if();
        {
          f.get(bias).get(jj).i32(4).i32Mul().i32Add().set(cp);
          f.get(cp).simd(SIMD.load).set(b0);
          f.get(cp).simd(SIMD.load, 16).set(b1);
          for (let r = 0; r < MATMUL_TILE_ROWS; r++) f.get(b0).set(acc[2 * r]!).get(b1).set(acc[2 * r + 1]!);
        }
        f.else();
        for (const x of acc) f.f32x4(0).set(x);
        f.end();
      }
      f.get(k).set(p);
      f.loop(); // C tile += A(tile rows, p) B(p, tile columns)
      {
        f.get(bp).simd(SIMD.load).set(b0);
        f.get(bp).simd(SIMD.load, 16).set(b1);
        for (let r = 0; r < MATMUL_TILE_ROWS; r++) {
          f.get(rowPtr[r]!).simd(SIMD.load32Splat).set(s);
          for (const [x, bv] of [[acc[2 * r]!, b0], [acc[2 * r + 1]!, b1]] as const) {
            if (fma) f.get(s).get(bv).get(x).simd(RELAXED_MADD).set(x);
            else f.get(x).get(s).get(bv).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).set(x);
          }
          f.get(rowPtr[r]!).get(aCol).i32Add().set(rowPtr[r]!);
        }
        f.get(bp).get(bRow).i32Add().set(bp);
        f.get(p).i32(1).i32Sub().tee(p).brIf(0);
      }
      f.end();
      f.get(c).get(ii).get(cRow).i32Mul().i32Add().get(jj).i32(4).i32Mul().i32Add().set(cp);
      for (let r = 0; r < MATMUL_TILE_ROWS; r++) {
        f.get(cp).get(acc[2 * r]!).simd(SIMD.store);
        f.get(cp).get(acc[2 * r + 1]!).simd(SIMD.store, 16);
        if (r + 1 < MATMUL_TILE_ROWS) f.get(cp).get(cRow).i32Add().set(cp);
      }
      f.get(j).i32(MATMUL_TILE_COLS).i32Add().tee(j).get(n).i32LtS().brIf(0);
    }
    f.end();
    f.get(i).i32(MATMUL_TILE_ROWS).i32Add().tee(i).get(m).i32LtS().brIf(0);
  }
  f.end();
  return f;
}

/**
 * `count` products of one shape (one bias for all), matrix i's A, B and C at a + i aStride,
 * b + i bStride and c + i cStride (a stride of 0 reuses one operand): one call per share of a batch on the kernel
 * pool (wasm-matmul.ts), each product computed by `matmul` (function `matmulIndex` of the module)
 * exactly as a call of its own.
 */
export function matmulBatchBody(matmulIndex: number): FunctionBody {
  // matmul's 11 parameters; a, b and c (0, 3, 5) advance
  return repeatedCallBody(matmulIndex, 11, [0, 3, 5]);
}

/**
 * One column panel of a blocked product (wasm-matmul.ts): C = A B (+ bias) as `matmul` over the
 * first `kc` rows of B, then `matmulAccumulate` over each next `kc`, so the B rows a call streams
 * (kc x N) stay in L2 while A's rows pass; the bits are those of one `matmul` over all of K (see
 * matmulBody). M a multiple of 4 and N of 8, as accumulating asks.
 */
export function matmulPanelBody(matmulIndex: number, accumulateIndex: number): FunctionBody {
  const [a, aRow, aCol, b, bRow, c, cRow, m, n, k, bias, kc] = Array.from({ length: 12 }, (_, i) => i);
  const f = new FunctionBody(new Array(12).fill(I32));
  const [p, kk] = [f.local(I32), f.local(I32)];
  /** kk = min(kc, k - p) */
  const blockRows = (): void => {
    f.get(k).get(p).i32Sub().set(kk);
    f.get(kc).get(kk).get(kc).get(kk).i32LtS().select().set(kk);
  };
  f.i32(0).set(p);
  blockRows();
  for (const arg of [a, aRow, aCol, b, bRow, c, cRow, m, n]) f.get(arg);
  f.get(kk).get(bias).call(matmulIndex);
  f.get(kk).set(p);
  f.block().loop();
  {
    f.get(p).get(k).i32LtS().i32Eqz().brIf(1);
    blockRows();
    f.get(a).get(p).get(aCol).i32Mul().i32Add().get(aRow).get(aCol);
    f.get(b).get(p).get(bRow).i32Mul().i32Add().get(bRow);
    f.get(c).get(cRow).get(m).get(n).get(kk).call(accumulateIndex);
    f.get(p).get(kk).i32Add().set(p);
    f.br(0);
  }
  f.end().end();
  return f;
}

/**
 * C = A B (+ bias) over B's columns [j0, j1), one column panel at a time: each panel (at most
 * `panelCols` columns, or up to panelCols + 7 where a shorter one would be left over) is copied
 * contiguous into `panel` (from B^T by `transpose` where `transposed` is 1, its rows k floats
 * apart, else by `copyRows`, B's rows n floats apart), then multiplied by all of A with one `matmul`
 * call over all of K. For a product with few rows of A and many columns of B (a Winograd filter
 * transform, [36, 9] x [9, 65536]): the row bands of blockedMatMul leave such a panel to one thread
 * and recompute A's last partial tile per panel, while ranges of panels spread over threads, each
 * with its own panel. Every output has the bits of one `matmul` call over all of B. j1 - j0 >= 8.
 */
export function matmulColumnPanelsBody(matmulIndex: number, copyRowsIndex: number, transposeIndex: number): FunctionBody {
  const [a, aRow, aCol, b, n, c, cRow, m, k, bias, panel, j0, j1, panelCols, transposed] = Array.from({ length: 15 }, (_, i) => i);
  const f = new FunctionBody(new Array(15).fill(I32));
  const [j, cols] = [f.local(I32), f.local(I32)];
  f.get(j0).set(j);
  f.block().loop();
  {
    f.get(j).get(j1).i32LtS().i32Eqz().brIf(1);
    // cols = j1 - j - panelCols >= 8 ? panelCols : j1 - j
    f.get(panelCols).get(j1).get(j).i32Sub();
    f.get(j1).get(j).i32Sub().get(panelCols).i32Sub().i32(MATMUL_TILE_COLS).i32LtS().i32Eqz();
    f.select().set(cols);
    f.get(transposed).if();
    f.get(b).get(j).get(k).i32Mul().i32(4).i32Mul().i32Add().get(cols).get(k).get(panel).call(transposeIndex);
    f.else();
    f.get(b).get(j).i32(4).i32Mul().i32Add().get(n).i32(4).i32Mul().get(panel).get(cols).i32(4).i32Mul().get(cols).i32(4).i32Mul().get(k).call(copyRowsIndex);
    f.end();
    f.get(a).get(aRow).get(aCol).get(panel).get(cols).i32(4).i32Mul();
    f.get(c).get(j).i32(4).i32Mul().i32Add().get(cRow).get(m).get(cols).get(k);
    f.get(bias).get(j).i32(4).i32Mul().i32Add().i32(0).get(bias).select();
    f.call(matmulIndex);
    f.get(j).get(cols).i32Add().set(j);
    f.br(0);
  }
  f.end().end();
  return f;
}

/**
 * `count` transposes of rows x cols matrices (function `transposeIndex`), matrix i at
 * src + i srcStride and dst + i dstStride: one call per share of a batch on the kernel pool.
 */
export function transposeBatchBody(transposeIndex: number): FunctionBody {
  // transpose's 4 parameters; src and dst (0, 3) advance
  return repeatedCallBody(transposeIndex, 4, [0, 3]);
}

/**
 * dst (cols x rows) = the transpose of src (rows x cols), 4-byte words; rows, cols >= 1. In tiles
 * of TRANSPOSE_ROW_BLOCK rows by TRANSPOSE_BLOCK columns, the columns of a band of rows swept
 * before the next band: a tile's output rows are written a word at a time, so only that many
 * output cache lines are live at once, and the band's source lines stay in L1 from one tile to the
 * next. Writing all columns per source row instead keeps `cols` lines live, and when a row of dst
 * is a multiple of 4 KiB (50176 floats: a stage-1 weight gradient at batch 16) they all fall in one
 * L1 set: 4 ns per element (tfjs's Transpose too) against ~0.5 here; sweeping a tile's columns
 * down all rows (no bands) does the same to the reads when a row of src is (a box-head FC's
 * [12544, 1024]: 3.5-4.6 ns per element).
 */
export const TRANSPOSE_BLOCK = 8;
export const TRANSPOSE_ROW_BLOCK = 64;

export function transposeBody(): FunctionBody {
  const [src, rows, cols, dst] = [0, 1, 2, 3];
  const f = new FunctionBody([I32, I32, I32, I32]);
  const [i0, height, j0, width, i, sp, dp, j, sRow, dRow, spRow, dpCol] = Array.from({ length: 12 }, () => f.local(I32));
  /** dst = min(block, total - start) */
  const blockInto = (dst_: number, total: number, start: number, block: number): void => {
    f.get(total).get(start).i32Sub().set(dst_);
    f.get(dst_).i32(block).get(dst_).i32(block).i32LtS().select().set(dst_);
  };
  f.get(cols).i32(4).i32Mul().set(sRow);
  f.get(rows).i32(4).i32Mul().set(dRow);
  f.i32(0).set(i0);
  f.loop(); // bands of rows
  {
    blockInto(height, rows, i0, TRANSPOSE_ROW_BLOCK);
    f.i32(0).set(j0);
    f.loop(); // column blocks of the band
    {
      blockInto(width, cols, j0, TRANSPOSE_BLOCK);
      f.get(src).get(i0).get(sRow).i32Mul().i32Add().get(j0).i32(4).i32Mul().i32Add().set(spRow);
      f.get(dst).get(j0).get(dRow).i32Mul().i32Add().get(i0).i32(4).i32Mul().i32Add().set(dpCol);
      f.get(height).set(i);
      f.loop(); // the band's rows
      {
        f.get(spRow).set(sp);
        f.get(dpCol).set(dp);
        f.get(width).set(j);
        f.loop(); // the block's columns of this row
        {
          f.get(dp).get(sp).i32Load().i32Store();
          f.get(sp).i32(4).i32Add().set(sp);
          f.get(dp).get(dRow).i32Add().set(dp);
          f.get(j).i32(1).i32Sub().tee(j).brIf(0);
        }
        f.end();
        f.get(spRow).get(sRow).i32Add().set(spRow);
        f.get(dpCol).i32(4).i32Add().set(dpCol);
        f.get(i).i32(1).i32Sub().tee(i).brIf(0);
      }
      f.end();
      f.get(j0).i32(TRANSPOSE_BLOCK).i32Add().tee(j0).get(cols).i32LtS().brIf(0);
    }
    f.end();
    f.get(i0).i32(TRANSPOSE_ROW_BLOCK).i32Add().tee(i0).get(rows).i32LtS().brIf(0);
  }
  f.end();
  return f;
}
