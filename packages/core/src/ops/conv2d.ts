import { tf } from '../tf.js';
import type { Tensor, Tensor2D, Tensor4D } from '../tf.js';
import { linear, matMulT as matMul } from './matmul.js';
import { useRelaxedSimd } from '../runtime/relaxed-simd.js';
import { flipFilter } from './flip-filter.js';
import { winogradAvailable, winogradConv2d } from './winograd.js';
import { gatherConvApplies, gatherConvFilterGrad, gatherConvForward, gatherConvInputGrad } from './conv-gather.js';

export type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];
export type Conv2DPad = 'valid' | 'same' | number | ExplicitPadding;

/** A convolution's shapes, strides, dilation and explicit padding (conv2d's own, and conv-gather.ts's). */
export interface Geometry {
  n: number;
  h: number;
  w: number;
  cin: number;
  kh: number;
  kw: number;
  cout: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  top: number;
  bottom: number;
  left: number;
  right: number;
  ho: number;
  wo: number;
}

function pair(v: number | [number, number], what: string): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : v;
  if (!p.every((x) => Number.isInteger(x) && x >= 1)) throw new Error(`conv2d: ${what} must be positive integers, got ${String(v)}`);
  return p;
}

/** TensorFlow's 'same': output ceil(in / stride), extra padding at the bottom/right. */
function samePadding(size: number, stride: number, effectiveKernel: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effectiveKernel - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

function geometry(
  xShape: number[],
  fShape: number[],
  strides: number | [number, number],
  pad: Conv2DPad,
  dilation: number | [number, number],
): Geometry {
  if (xShape.length !== 4) throw new Error(`conv2d: input must be NHWC rank 4, got shape [${xShape.join(', ')}]`);
  if (fShape.length !== 4) throw new Error(`conv2d: filter must be HWIO rank 4, got shape [${fShape.join(', ')}]`);
  const [n, h, w, cin] = xShape as [number, number, number, number];
  const [kh, kw, fin, cout] = fShape as [number, number, number, number];
  if (fin !== cin) throw new Error(`conv2d: input has ${cin} channels but the filter expects ${fin}`);
  const [sh, sw] = pair(strides, 'strides');
  const [dh, dw] = pair(dilation, 'dilation');
  const ekh = (kh - 1) * dh + 1;
  const ekw = (kw - 1) * dw + 1;
  let top: number, bottom: number, left: number, right: number;
  if (pad === 'valid') {
    top = bottom = left = right = 0;
  } else if (pad === 'same') {
    [top, bottom] = samePadding(h, sh, ekh);
    [left, right] = samePadding(w, sw, ekw);
  } else if (typeof pad === 'number') {
    top = bottom = left = right = pad;
  } else {
    const [pn, ph, pw, pc] = pad;
    if (pn[0] !== 0 || pn[1] !== 0 || pc[0] !== 0 || pc[1] !== 0) throw new Error('conv2d: explicit padding may only pad H and W');
    [top, bottom] = ph;
    [left, right] = pw;
  }
  if (![top, bottom, left, right].every((p) => Number.isInteger(p) && p >= 0)) {
    throw new Error(`conv2d: padding must be non-negative integers, got ${JSON.stringify(pad)}`);
  }
  const ho = Math.floor((h + top + bottom - ekh) / sh) + 1;
  const wo = Math.floor((w + left + right - ekw) / sw) + 1;
  if (ho < 1 || wo < 1) throw new Error(`conv2d: a ${kh}x${kw} kernel does not fit a padded ${h}x${w} input`);
  return { n, h, w, cin, kh, kw, cout, sh, sw, dh, dw, top, bottom, left, right, ho, wo };
}

function explicitPadding(g: Geometry): ExplicitPadding {
  return [[0, 0], [g.top, g.bottom], [g.left, g.right], [0, 0]];
}

/**
 * kernel == stride, no padding, no dilation (PatchEmbed 4x4/4, PatchMerging 2x2/2): the windows
 * tile the input, so both gradients are a reshape to patches and one matmul. So is the forward
 * on wasm where our matmul has relaxed SIMD's multiply-add (patchesBeatConv): one core, batch
 * 16, PartialNet-T0's stem and merges took 34 ms as XNNPACK convolutions, 24 as patches + matmul
 * (the patches a strided row copy, wasm-copy-kernels.ts swapAdjacentAxes). Elsewhere it stays
 * tfjs's conv2d.
 */
function isPatchify(g: Geometry): boolean {
  return g.kh === g.sh && g.kw === g.sw && g.dh === 1 && g.dw === 1 && g.top + g.bottom + g.left + g.right === 0 && g.kh * g.kw > 1;
}

function patchesBeatConv(): boolean {
  return tf.getBackend() === 'wasm' && useRelaxedSimd();
}

function isPointwise(g: Geometry): boolean {
  return g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.top + g.bottom + g.left + g.right === 0;
}

/** Patches of a tiling conv, [N*Ho*Wo, kh*kw*Cin] in HWIO filter order. */
function patchify(x: Tensor4D, g: Geometry): Tensor {
  const usedH = g.ho * g.kh;
  const usedW = g.wo * g.kw;
  const xs = usedH === g.h && usedW === g.w ? x : tf.slice(x, [0, 0, 0, 0], [g.n, usedH, usedW, g.cin]);
  const blocks = tf.reshape(xs, [g.n, g.ho, g.kh, g.wo, g.kw, g.cin]);
  return tf.reshape(tf.transpose(blocks, [0, 1, 3, 2, 4, 5]), [g.n * g.ho * g.wo, g.kh * g.kw * g.cin]);
}

function unpatchify(cols: Tensor, g: Geometry): Tensor4D {
  const blocks = tf.reshape(cols, [g.n, g.ho, g.wo, g.kh, g.kw, g.cin]);
  const dx = tf.reshape(tf.transpose(blocks, [0, 1, 3, 2, 4, 5]), [g.n, g.ho * g.kh, g.wo * g.kw, g.cin]) as Tensor4D;
  const missingH = g.h - g.ho * g.kh;
  const missingW = g.w - g.wo * g.kw;
  return missingH || missingW ? tf.pad(dx, [[0, 0], [0, missingH], [0, missingW], [0, 0]]) : dx;
}

/** The filter with (d - 1) zeros between taps: a dilated conv as an undilated one. */
function dilateFilter(filter: Tensor4D, g: Geometry): Tensor4D {
  if (g.dh === 1 && g.dw === 1) return filter;
  const spread = tf.pad(tf.reshape(filter, [g.kh, 1, g.kw, 1, g.cin, g.cout]), [
    [0, 0],
    [0, g.dh - 1],
    [0, 0],
    [0, g.dw - 1],
    [0, 0],
    [0, 0],
  ]);
  const full = tf.reshape(spread, [g.kh * g.dh, g.kw * g.dw, g.cin, g.cout]);
  return tf.slice(full, [0, 0, 0, 0], [(g.kh - 1) * g.dh + 1, (g.kw - 1) * g.dw + 1, g.cin, g.cout]) as Tensor4D;
}

function forward(x: Tensor4D, filter: Tensor4D, g: Geometry): Tensor4D {
  if (isPointwise(g)) {
    const y = matMul(tf.reshape(x, [g.n * g.h * g.w, g.cin]), tf.reshape(filter, [g.cin, g.cout]));
    return tf.reshape(y, [g.n, g.ho, g.wo, g.cout]);
  }
  if (isPatchify(g) && patchesBeatConv()) {
    const y = matMul(patchify(x, g), tf.reshape(filter, [g.kh * g.kw * g.cin, g.cout]));
    return tf.reshape(y, [g.n, g.ho, g.wo, g.cout]);
  }
  if (gatherConvApplies(g)) return gatherConvForward(x, filter, g);
  // tfjs rejects stride > 1 together with dilation > 1; the zero-spread filter does both.
  if ((g.dh > 1 || g.dw > 1) && (g.sh > 1 || g.sw > 1)) {
    return tf.conv2d(x, dilateFilter(filter, g), [g.sh, g.sw], explicitPadding(g));
  }
  return tf.conv2d(x, filter, [g.sh, g.sw], explicitPadding(g), 'NHWC', [g.dh, g.dw]);
}

function inputGrad(dy: Tensor4D, filter: Tensor4D, g: Geometry): Tensor4D {
  const m = g.n * g.ho * g.wo;
  if (isPointwise(g)) {
    const dx = matMul(tf.reshape(dy, [m, g.cout]), tf.reshape(filter, [g.cin, g.cout]), false, true);
    return tf.reshape(dx, [g.n, g.h, g.w, g.cin]);
  }
  if (isPatchify(g)) {
    return unpatchify(matMul(tf.reshape(dy, [m, g.cout]), tf.reshape(filter, [g.kh * g.kw * g.cin, g.cout]), false, true), g);
  }
  if (gatherConvApplies(g)) return gatherConvInputGrad(dy, filter, g);
  const ekh = (g.kh - 1) * g.dh + 1;
  const ekw = (g.kw - 1) * g.dw + 1;
  const full: [number, number, number, number] = [ekh - 1 - g.top, ekh - 1 - g.bottom, ekw - 1 - g.left, ekw - 1 - g.right];
  // At stride 1 the input gradient is a 'full' conv of dy with the flipped, in/out-swapped filter.
  // On wasm that runs through XNNPACK, 2.5x faster than its Conv2DBackpropInput; on cpu the
  // transposed conv is the faster one.
  if (tf.getBackend() === 'wasm' && g.sh === 1 && g.sw === 1 && full.every((p) => p >= 0)) {
    const flipped = flipFilter(filter);
    const [t, b, l, r] = full;
    return tf.conv2d(dy, flipped, 1, [[0, 0], [t, b], [l, r], [0, 0]], 'NHWC', [g.dh, g.dw]);
  }
  return tf.conv2dTranspose(dy, dilateFilter(filter, g), [g.n, g.h, g.w, g.cin], [g.sh, g.sw], explicitPadding(g));
}

/**
 * dW without Conv2DBackpropFilter (which wasm lacks): for 1x1 and tiling convs one matmul over
 * the patches; otherwise the correlation of the padded input with dy, computed as a forward conv
 * with batch and channels swapped (input [Cin, Hp, Wp, N], "filter" dy as [Ho, Wo, N, Cout],
 * dilated by the stride). Measured on [8,32,32,8] 3x3: 31 ms on cpu and 1.5 ms on wasm, against
 * 380 ms and 6 ms for im2col (slices + concat + matmul).
 */
function filterGrad(x: Tensor4D, dy: Tensor4D, g: Geometry): Tensor4D {
  const m = g.n * g.ho * g.wo;
  if (isPointwise(g) || isPatchify(g)) {
    const cols = isPointwise(g) ? tf.reshape(x, [m, g.cin]) : patchify(x, g);
    return tf.reshape(matMul(cols, tf.reshape(dy, [m, g.cout]), true, false), [g.kh, g.kw, g.cin, g.cout]);
  }
  if (gatherConvApplies(g)) return gatherConvFilterGrad(x, dy, g);
  const xp = g.top + g.bottom + g.left + g.right === 0 ? x : tf.pad(x, explicitPadding(g));
  const xt = tf.transpose(xp, [3, 1, 2, 0]) as Tensor4D;
  const dyt = tf.transpose(dy, [1, 2, 0, 3]) as Tensor4D;
  // [Cin, Hp - (Ho-1)*sh, Wp - (Wo-1)*sw, Cout]: every tap offset, plus rows/cols a stride skipped.
  const corr = tf.conv2d(xt, dyt, 1, 'valid', 'NHWC', [g.sh, g.sw]);
  const ekh = (g.kh - 1) * g.dh + 1;
  const ekw = (g.kw - 1) * g.dw + 1;
  const taps =
    g.dh === 1 && g.dw === 1
      ? tf.slice(corr, [0, 0, 0, 0], [g.cin, ekh, ekw, g.cout])
      : tf.stridedSlice(corr, [0, 0, 0, 0], [g.cin, ekh, ekw, g.cout], [1, g.dh, g.dw, 1]);
  return tf.transpose(taps, [1, 2, 0, 3]) as Tensor4D;
}

/**
 * Cost model of a 3x3 stride-1 convolution on wasm, in units of Cin x Cout multiply-adds, fitted to
 * one-core measurements of forward + backward (CPU time, [2, 4..16, 16..32, 256] and T0's PConvs
 * at batch 16):
 * - direct: about DIRECT_UNITS_PER_PIXEL per output pixel (9 multiply-adds per pixel at XNNPACK's
 *   rate, and its gradient through our transposed convolutions);
 * - Winograd F(m): alpha^2 planes of one product row per tile, plus per call the filter side
 *   (transforming g, packing U^T, transforming dU back: WINOGRAD_FILTER_ROWS rows per plane) and
 *   the dispatch of its half-dozen kernels (WINOGRAD_CALL_MACS multiply-adds' worth, ~30 us), which
 *   is what keeps thin, tiny convolutions direct.
 * Measured (ms, one core, forward + backward, direct against Winograd): [2, 16, 16, 256] 80 / 39,
 * [2, 8, 8, 256] 24.5 / 16.2, [2, 4, 4, 256] 10.7 / 10.9, [16, 56, 56, 8] 14.2 / 10.0.
 */
const DIRECT_UNITS_PER_PIXEL = 7.3;
const WINOGRAD_FILTER_ROWS = 6.6;
const WINOGRAD_CALL_MACS = 4e5;

/**
 * The Winograd tile size for this convolution on wasm, or undefined to convolve directly: the
 * cheaper of F(2x2) and F(4x4) where it beats the direct convolution by the cost model above.
 * Channels must be multiples of 4 and at least 8 (the products' narrowest operand).
 */
function winogradTile(g: Geometry): 2 | 4 | undefined {
  if (g.kh !== 3 || g.kw !== 3 || g.sh !== 1 || g.sw !== 1 || g.dh !== 1 || g.dw !== 1) return undefined;
  if (g.cin < 8 || g.cout < 8 || g.cin % 4 !== 0 || g.cout % 4 !== 0) return undefined;
  if (!winogradAvailable()) return undefined;
  const cost = (m: 2 | 4): number => (m + 2) ** 2 * (g.n * Math.ceil(g.ho / m) * Math.ceil(g.wo / m) + WINOGRAD_FILTER_ROWS) + WINOGRAD_CALL_MACS / (g.cin * g.cout);
  const m = cost(4) <= cost(2) ? 4 : 2;
  // larger batches go through in groups of images, larger images in bands of rows (winograd.ts)
  return cost(m) < DIRECT_UNITS_PER_PIXEL * g.n * g.ho * g.wo ? m : undefined;
}

/**
 * A tiling convolution (kernel == stride, no padding) plus a per-channel bias as one product with
 * the bias inside (`linear`, differentiable) where that beats tfjs's conv (see isPatchify);
 * undefined for every other convolution and backend.
 */
export function tilingConv2dBias(x: Tensor4D, filter: Tensor4D, bias: Tensor, strides: number | [number, number] = 1, pad: Conv2DPad = 'valid'): Tensor4D | undefined {
  const g = geometry(x.shape, filter.shape, strides, pad, 1);
  if (!isPatchify(g) || !patchesBeatConv()) return undefined;
  return tf.tidy(() => tf.reshape(linear(patchify(x, g) as Tensor2D, tf.reshape(filter, [g.kh * g.kw * g.cin, g.cout]), bias), [g.n, g.ho, g.wo, g.cout]));
}

/** Whether conv2d() with these shapes and settings runs as a Winograd convolution here. */
export function takesWinograd(xShape: number[], filterShape: number[], strides: number | [number, number] = 1, pad: Conv2DPad = 'valid', dilation: number | [number, number] = 1): boolean {
  return winogradTile(geometry(xShape, filterShape, strides, pad, dilation)) !== undefined;
}

/**
 * 2-D convolution, NHWC input and HWIO filter, differentiable on every backend.
 *
 * Padding: 'valid', 'same' (TensorFlow convention: extra padding at the bottom/right; PyTorch's
 * symmetric `padding=k//2` is the number form), a number for symmetric padding, or explicit
 * `[[0,0],[top,bottom],[left,right],[0,0]]`.
 *
 * The gradient is our own, built from forward convs, transposed convs and matmuls, so training
 * never needs Conv2DBackpropFilter (missing on wasm): see inputGrad and filterGrad. 1x1 and
 * kernel == stride convs differentiate as matmuls. The forward is tfjs's conv2d (a matmul for 1x1);
 * on wasm, large enough 3x3 stride-1 convolutions run as Winograd F(m, 3) (winograd.ts) instead,
 * and the rest, while their patches are small, as gathered patches and a product (conv-gather.ts).
 */
export function conv2d(
  x: Tensor4D,
  filter: Tensor4D,
  strides: number | [number, number] = 1,
  pad: Conv2DPad = 'valid',
  dilation: number | [number, number] = 1,
): Tensor4D {
  const g = geometry(x.shape, filter.shape, strides, pad, dilation);
  const tile = winogradTile(g);
  if (tile) return winogradConv2d(x, filter, { top: g.top, bottom: g.bottom, left: g.left, right: g.right }, tile);
  // Outside tf.grad / variableGrads nothing records a tape: skip customGrad's bookkeeping.
  if (tf.engine().state.gradientDepth === 0) return tf.tidy(() => forward(x, filter, g));
  const op = tf.customGrad((...args) => {
    const [xi, fi, save] = args as [Tensor4D, Tensor4D, (tensors: Tensor[]) => void];
    save([xi, fi]);
    return {
      value: tf.tidy(() => forward(xi, fi, g)),
      gradFunc: (dy: Tensor4D, saved: Tensor[]) => {
        const [xs, fs] = saved as [Tensor4D, Tensor4D];
        return tf.tidy(() => [inputGrad(dy, fs, g), filterGrad(xs, dy, g)]);
      },
    };
  });
  return op(x, filter);
}
