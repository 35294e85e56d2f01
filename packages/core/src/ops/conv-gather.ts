import { tf } from '../tf.js';
import type { Tensor2D, Tensor4D } from '../tf.js';
import type { Geometry } from './conv2d.js';
import { gatherWeightedSum, gatherWeightedSumFused } from './gather-weighted-sum.js';
import { matMulT as matMul } from './matmul.js';
import { useRelaxedSimd } from '../runtime/relaxed-simd.js';

/**
 * A convolution as gathered patches and one product (im2col), with both gradients the same way:
 * the wasm path for the convolutions Winograd does not take (strided ones, and stride-1 ones on
 * maps too small for it) while the patches stay small. tfjs-backend-wasm runs those through
 * XNNPACK on one thread (its pool is kept to one, backend.ts), and its Conv2DBackpropInput, which
 * a strided convolution's input gradient needs, is a plain loop: RetinaNet's P7 conv ([2, 8, 8,
 * 256] to [2, 4, 4, 256], 3x3, stride 2) took 58 ms there for 75M multiply-adds.
 *
 * - forward: patches [N Ho Wo, kh kw Cin] gathered from x's rows (a zero row stands for the
 *   padding), times the filter as [kh kw Cin, Cout];
 * - input gradient: dy times the filter's transpose gives each output position's patch gradient;
 *   each input pixel gathers and sums the taps that read it (a gather, not a scatter, so the sums
 *   split over threads by rows and do not depend on the thread count);
 * - filter gradient: the patches' transpose times dy.
 * The gathers and products run on the kernel pool (gather-weighted-sum.ts, wasm-matmul.ts).
 */

/** Bytes of patches past which a convolution stays with tfjs (XNNPACK): 9x the input at 3x3. */
const MAX_PATCH_BYTES = 16 << 20;

/** Whether this convolution runs as gathered patches here (the caller has ruled out 1x1, tiling and Winograd). */
export function gatherConvApplies(g: Geometry): boolean {
  if (tf.getBackend() !== 'wasm' || !useRelaxedSimd() || !gatherWeightedSumFused(g.cin)) return false;
  return 4 * g.n * g.ho * g.wo * g.kh * g.kw * g.cin <= MAX_PATCH_BYTES;
}

/** Index [N Ho Wo kh kw, 1] of x's row (N H W + 1 rows, the last one zeros) under each tap of each output position. */
function patchIndex(g: Geometry): Int32Array {
  const zeroRow = g.n * g.h * g.w;
  const index = new Int32Array(g.n * g.ho * g.wo * g.kh * g.kw);
  let at = 0;
  for (let b = 0; b < g.n; b++) {
    for (let oy = 0; oy < g.ho; oy++) {
      for (let ox = 0; ox < g.wo; ox++) {
        for (let i = 0; i < g.kh; i++) {
          const y = oy * g.sh + i * g.dh - g.top;
          for (let j = 0; j < g.kw; j++) {
            const x = ox * g.sw + j * g.dw - g.left;
            index[at++] = y >= 0 && y < g.h && x >= 0 && x < g.w ? (b * g.h + y) * g.w + x : zeroRow;
          }
        }
      }
    }
  }
  return index;
}

/** For each input coordinate along one axis, the (tap, output coordinate) pairs that read it. */
function readersAlong(size: number, out: number, k: number, stride: number, dilation: number, before: number): [number, number][][] {
  const readers: [number, number][][] = Array.from({ length: size }, () => []);
  for (let o = 0; o < out; o++) {
    for (let t = 0; t < k; t++) {
      const at = o * stride + t * dilation - before;
      if (at >= 0 && at < size) readers[at]!.push([t, o]);
    }
  }
  return readers;
}

/**
 * Index [N H W, T] of the patch-gradient rows (N Ho Wo kh kw + 1 rows, the last one zeros) each
 * input pixel sums, all with weight 1: T is the most taps any pixel has, the rest point at the
 * zero row.
 */
function readerIndex(g: Geometry): { index: Int32Array; taps: number } {
  const rows = readersAlong(g.h, g.ho, g.kh, g.sh, g.dh, g.top);
  const cols = readersAlong(g.w, g.wo, g.kw, g.sw, g.dw, g.left);
  const taps = Math.max(1, Math.max(...rows.map((r) => r.length)) * Math.max(...cols.map((c) => c.length)));
  const zeroRow = g.n * g.ho * g.wo * g.kh * g.kw;
  const index = new Int32Array(g.n * g.h * g.w * taps).fill(zeroRow);
  for (let b = 0; b < g.n; b++) {
    for (let y = 0; y < g.h; y++) {
      for (let x = 0; x < g.w; x++) {
        let at = ((b * g.h + y) * g.w + x) * taps;
        for (const [i, oy] of rows[y]!) {
          for (const [j, ox] of cols[x]!) index[at++] = ((b * g.ho + oy) * g.wo + ox) * g.kh * g.kw + i * g.kw + j;
        }
      }
    }
  }
  return { index, taps };
}

/** `rows` [R, C] with a row of zeros after them: the target of every tap that falls outside. */
function withZeroRow(rows: Tensor2D): Tensor2D {
  return tf.concat([rows, tf.zeros([1, rows.shape[1]])], 0);
}

/** Gathers rows of `table` (its last row zeros) by `index` [B, T], summing each row's T taps. */
function gatherRows(table: Tensor2D, index: Int32Array, taps: number): Tensor2D {
  const rows = index.length / taps;
  const idx = tf.tensor2d(index, [rows, taps], 'int32');
  const ones = tf.ones([rows, taps]) as Tensor2D;
  return gatherWeightedSum(table, idx, ones);
}

function patches(x: Tensor4D, g: Geometry): Tensor2D {
  const table = withZeroRow(tf.reshape(x, [g.n * g.h * g.w, g.cin]));
  return tf.reshape(gatherRows(table, patchIndex(g), 1), [g.n * g.ho * g.wo, g.kh * g.kw * g.cin]);
}

export function gatherConvForward(x: Tensor4D, filter: Tensor4D, g: Geometry): Tensor4D {
  const y = matMul(patches(x, g), tf.reshape(filter, [g.kh * g.kw * g.cin, g.cout]) as Tensor2D);
  return tf.reshape(y, [g.n, g.ho, g.wo, g.cout]);
}

export function gatherConvInputGrad(dy: Tensor4D, filter: Tensor4D, g: Geometry): Tensor4D {
  const m = g.n * g.ho * g.wo;
  const patchGrad = matMul(tf.reshape(dy, [m, g.cout]) as Tensor2D, tf.reshape(filter, [g.kh * g.kw * g.cin, g.cout]) as Tensor2D, false, true);
  const table = withZeroRow(tf.reshape(patchGrad, [m * g.kh * g.kw, g.cin]));
  const { index, taps } = readerIndex(g);
  return tf.reshape(gatherRows(table, index, taps), [g.n, g.h, g.w, g.cin]);
}

/** The patches are gathered again rather than kept from the forward: a gather is cheap, 16 MiB held per layer is not. */
export function gatherConvFilterGrad(x: Tensor4D, dy: Tensor4D, g: Geometry): Tensor4D {
  const dw = matMul(patches(x, g), tf.reshape(dy, [g.n * g.ho * g.wo, g.cout]) as Tensor2D, true, false);
  return tf.reshape(dw, [g.kh, g.kw, g.cin, g.cout]);
}
