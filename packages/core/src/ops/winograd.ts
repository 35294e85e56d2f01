import { tf } from '../tf.js';
import type { Tensor, Tensor2D, Tensor3D, Tensor4D } from '../tf.js';
import { wasmHeap } from '../runtime/wasm-internals.js';
import { runWinogradTransform, winogradKernels, type WinogradKernels } from '../runtime/winograd-kernels.js';
import { matMulTNWasm } from './matmul-tn.js';
import { filterTransformMatrix, transpose, WINOGRAD_F2, WINOGRAD_F4, type WinogradTransforms } from './winograd-transforms.js';

/**
 * 3x3 stride-1 convolution by Winograd's F(m x m, 3 x 3) on the wasm backend, forward and both
 * gradients: alpha^2 matrix products (one batched call) instead of tfjs-wasm's direct convolution, which
 * runs XNNPACK at ~27 GFLOP/s on one core (wasm SIMD128 has no FMA). With m = 4 the products do
 * 4x fewer multiplications; measured on [2, 64, 64, 256] x [3, 3, 256, 256]: see README.
 *
 * Forward: V = tiles of the padded input through B^T . B (one kernel, alpha^2 planes [T, Cin]
 * in one [alpha^2, T, Cin] tensor), U = kron(G, G) @ g (one small matmul), M_i = V_i @ U_i (one
 * batched product: our SIMD BatchMatMul runs whole planes per thread), y = A^T . A of the tiles of M.
 * Backward, the exact gradient of that computation: dM = A . A^T of dy's tiles; dV_i = dM_i
 * @ U_i^T, dx = the B . B^T tiles summed back where windows overlap; dU_i = V_i^T @ dM_i (our
 * a^T b kernel, or V written transposed by its own kernel: tfjs-wasm's transposed matmul is slow),
 * dg = kron(G, G)^T @ dU.
 */
const GATHER = 'PartialnetWinogradGather';
const SCATTER = 'PartialnetWinogradScatter';

type GatherKind = 'input' | 'input-transposed' | 'grad-output';
type ScatterKind = 'output' | 'grad-input';

interface GatherAttrs {
  m: 2 | 4;
  kind: GatherKind;
  tilesH: number;
  tilesW: number;
}

interface ScatterAttrs {
  m: 2 | 4;
  kind: ScatterKind;
  tilesH: number;
  tilesW: number;
  height: number;
  width: number;
}

function transformsFor(m: 2 | 4): WinogradTransforms {
  return m === 2 ? WINOGRAD_F2 : WINOGRAD_F4;
}

function kernelsOf(backend: unknown, m: 2 | 4): WinogradKernels {
  const memory = wasmHeap(backend).memory();
  const kernels = memory && winogradKernels(memory, m);
  if (!kernels) throw new Error('Winograd convolution: the WebAssembly SIMD kernels are not available on this wasm backend');
  return kernels;
}

function assertVectorChannels(kernel: string, t: tf.TensorInfo, channels: number): void {
  if (t.dtype !== 'float32') throw new Error(`${kernel}: expected float32, got ${t.dtype}`);
  if (channels % 4 !== 0) throw new Error(`${kernel}: channels must be a multiple of 4, got ${channels}`);
}

const gatherKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const x = inputs.x as tf.TensorInfo;
  const { m, kind, tilesH, tilesW } = attrs as unknown as GatherAttrs;
  const [n, h, w, c] = x.shape as [number, number, number, number];
  assertVectorChannels(GATHER, x, c);
  const { alpha } = transformsFor(m);
  const window = kind === 'grad-output' ? m : alpha;
  if ((tilesH - 1) * m + window > h || (tilesW - 1) * m + window > w) {
    throw new Error(`${GATHER}: ${tilesH}x${tilesW} tiles of ${window}x${window} at stride ${m} do not fit a ${h}x${w} input`);
  }
  const tiles = n * tilesH * tilesW;
  const heap = wasmHeap(backend);
  // the planes one after another in one tensor: a batch of alpha^2 matrices for BatchMatMul
  const planes = heap.makeOutput(kind === 'input-transposed' ? [alpha * alpha, c, tiles] : [alpha * alpha, tiles, c], 'float32');
  kernelsOf(backend, m);
  const name: keyof WinogradKernels = kind === 'input' ? 'inputTransform' : kind === 'input-transposed' ? 'inputTransformTransposed' : 'gradOutputTransform';
  const pixelBytes = 4 * c;
  const [base, planeBytes] = [heap.offset(planes), 4 * tiles * c];
  const pointers = Array.from({ length: alpha * alpha }, (_, p) => base + p * planeBytes);
  runWinogradTransform(heap.memory()!, m, name, [heap.offset(x), n, tilesH, tilesW, c / 4, pixelBytes, w * pixelBytes, h * w * pixelBytes, 4 * tiles, ...pointers]);
  return planes;
};

const scatterKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const planes = inputs.planes as tf.TensorInfo;
  const { m, kind, tilesH, tilesW, height, width } = attrs as unknown as ScatterAttrs;
  const { alpha } = transformsFor(m);
  if (planes.shape.length !== 3 || planes.shape[0] !== alpha * alpha) throw new Error(`${SCATTER}: expected ${alpha * alpha} planes [${alpha * alpha}, T, C], got [${planes.shape.join(', ')}]`);
  const [, tiles, c] = planes.shape as [number, number, number];
  assertVectorChannels(SCATTER, planes, c);
  const window = kind === 'output' ? m : alpha;
  const n = tiles / (tilesH * tilesW);
  if (!Number.isInteger(n) || (tilesH - 1) * m + window > height || (tilesW - 1) * m + window > width) {
    throw new Error(`${SCATTER}: ${tiles} tiles do not make whole ${tilesH}x${tilesW} images of ${height}x${width}`);
  }
  const heap = wasmHeap(backend);
  const out = heap.makeOutput([n, height, width, c], 'float32');
  kernelsOf(backend, m);
  const pixelBytes = 4 * c;
  let name: keyof WinogradKernels = 'outputTransform';
  if (kind === 'grad-input') {
    // windows overlap: the kernel adds into a zeroed tensor
    new Float32Array(heap.buffer(), heap.offset(out), n * height * width * c).fill(0);
    name = 'gradInputTransform';
  } else if (height !== tilesH * m || width !== tilesW * m) {
    throw new Error(`${SCATTER}: output tiles must cover the ${height}x${width} output exactly`);
  }
  const [base, planeBytes] = [heap.offset(planes), 4 * tiles * c];
  const pointers = Array.from({ length: alpha * alpha }, (_, p) => base + p * planeBytes);
  runWinogradTransform(heap.memory()!, m, name, [heap.offset(out), n, tilesH, tilesW, c / 4, pixelBytes, width * pixelBytes, height * width * pixelBytes, ...pointers]);
  return out;
};

export function registerWinogradKernels(): void {
  if (!tf.getKernel(GATHER, 'wasm')) tf.registerKernel({ kernelName: GATHER, backendName: 'wasm', kernelFunc: gatherKernel });
  if (!tf.getKernel(SCATTER, 'wasm')) tf.registerKernel({ kernelName: SCATTER, backendName: 'wasm', kernelFunc: scatterKernel });
}

export function unregisterWinogradKernels(): void {
  for (const name of [GATHER, SCATTER]) if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
}

/** Whether the active backend runs Winograd convolutions here (wasm with the SIMD kernels). */
export function winogradAvailable(): boolean {
  if (tf.getBackend() !== 'wasm' || !tf.getKernel(GATHER, 'wasm')) return false;
  const memory = wasmHeap(tf.backend()).memory();
  return memory !== undefined && winogradKernels(memory, 4) !== undefined;
}

export interface WinogradPadding {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

interface Layout {
  m: 2 | 4;
  n: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  ho: number;
  wo: number;
  tilesH: number;
  tilesW: number;
  /** The padded input: every alpha x alpha window inside. */
  hp: number;
  wp: number;
  pad: WinogradPadding;
  /** Plane budget per group of images (WINOGRAD_MAX_PLANE_BYTES unless a test sets it). */
  maxPlaneBytes: number;
}

function layout(xShape: number[], cout: number, pad: WinogradPadding, m: 2 | 4, maxPlaneBytes: number): Layout {
  const [n, h, w, cin] = xShape as [number, number, number, number];
  const ho = h + pad.top + pad.bottom - 2;
  const wo = w + pad.left + pad.right - 2;
  const tilesH = Math.ceil(ho / m);
  const tilesW = Math.ceil(wo / m);
  return { m, n, h, w, cin, cout, ho, wo, tilesH, tilesW, hp: tilesH * m + 2, wp: tilesW * m + 2, pad, maxPlaneBytes };
}

/** The multiplications of F(m, 3) for this output, tiles rounded up: picks the cheaper m. */
export function winogradTileSize(ho: number, wo: number): 2 | 4 {
  const cost = (m: number): number => Math.ceil(ho / m) * Math.ceil(wo / m) * (m + 2) ** 2;
  return cost(4) <= cost(2) ? 4 : 2;
}

function padInput(x: Tensor4D, l: Layout): Tensor4D {
  const bottom = l.hp - l.h - l.pad.top;
  const right = l.wp - l.w - l.pad.left;
  return tf.pad(x, [
    [0, 0],
    [l.pad.top, bottom],
    [l.pad.left, right],
    [0, 0],
  ]);
}

/** The alpha^2 planes of x's tiles: [alpha^2, T, C] (input-transposed: [alpha^2, C, T]). */
function gather(x: Tensor4D, l: Layout, kind: GatherKind): Tensor3D {
  const attrs: GatherAttrs = { m: l.m, kind, tilesH: l.tilesH, tilesW: l.tilesW };
  return tf.engine().runKernel(GATHER, { x }, attrs as unknown as tf.NamedAttrMap) as Tensor3D;
}

function scatter(planes: Tensor3D, l: Layout, kind: ScatterKind, height: number, width: number): Tensor4D {
  const attrs: ScatterAttrs = { m: l.m, kind, tilesH: l.tilesH, tilesW: l.tilesW, height, width };
  return tf.engine().runKernel(SCATTER, { planes }, attrs as unknown as tf.NamedAttrMap) as Tensor4D;
}

const filterMatrices = new Map<number, { forward: number[][]; backward: number[][] }>();

function filterMatrix(m: 2 | 4, direction: 'forward' | 'backward'): Tensor2D {
  let pair = filterMatrices.get(m);
  if (!pair) {
    const forward = filterTransformMatrix(transformsFor(m));
    pair = { forward, backward: transpose(forward) };
    filterMatrices.set(m, pair);
  }
  return tf.tensor2d(pair[direction]);
}

/** U: alpha^2 planes [alpha^2, Cin, Cout]. */
function transformFilter(filter: Tensor4D, l: Layout): Tensor3D {
  const transform = (): Tensor3D => {
    const alpha = l.m + 2;
    const u = tf.matMul(filterMatrix(l.m, 'forward'), tf.reshape(filter, [9, l.cin * l.cout]));
    return tf.reshape(u, [alpha * alpha, l.cin, l.cout]);
  };
  const cache = filterCache;
  if (!cache) return transform();
  // tensor data never changes under a dataId (a variable's assign takes a new one), so U of the
  // same dataId, tile size and shape is the same U
  const dataId = (filter as unknown as { dataId: object }).dataId;
  const key = `${l.m}:${l.cin}:${l.cout}`;
  const seen = cache.get(dataId);
  const kept = seen?.get(key);
  if (kept) return kept;
  if (!seen || !seen.has(key)) {
    // a first use: most filters are used once, so nothing is held for them
    cache.set(dataId, (seen ?? new Map()).set(key, undefined));
    return transform();
  }
  const u = tf.keep(transform());
  seen.set(key, u);
  return u;
}

/** Transformed filters of the current `withWinogradFilterCache` scope: dataId -> shape key -> U (undefined: seen once). */
let filterCache: Map<object, Map<string, Tensor3D | undefined>> | undefined;

/**
 * Runs `fn` (synchronous) with the Winograd filter transforms it computes shared: a filter used a
 * second time (a detection head's convolution, shared over 5 pyramid levels; a convolution's
 * backward pass, which transforms its filter again) keeps its U until the scope ends. Core's
 * backprop (runtime/lean-backprop.ts) runs every gradient computation in one, the detection heads
 * their level loops. Nested scopes use the outermost one. RetinaNet-T0's head computed each of its
 * 8 filters' transforms 10 times per training step before.
 */
export function withWinogradFilterCache<T>(fn: () => T): T {
  if (filterCache) return fn();
  const cache = new Map<object, Map<string, Tensor3D | undefined>>();
  filterCache = cache;
  try {
    return fn();
  } finally {
    filterCache = undefined;
    for (const byShape of cache.values()) for (const u of byShape.values()) u?.dispose();
  }
}

/**
 * The alpha^2 transform planes of one image on the wider side of the products (bytes). A training
 * step holds three such sets at once (dM, dV, V): the work is done in groups of images whose
 * planes stay under WINOGRAD_MAX_PLANE_BYTES, and conv2d() convolves directly when one image alone
 * passes it.
 */
export function winogradPlaneBytesPerImage(ho: number, wo: number, cin: number, cout: number, m: 2 | 4): number {
  return 4 * (m + 2) ** 2 * Math.ceil(ho / m) * Math.ceil(wo / m) * Math.max(cin, cout);
}

/** 96 MiB: the 4 GiB wasm heap of a 1333x800 Mask R-CNN step is the limit (its P2 level needs 155 MiB per image). */
export const WINOGRAD_MAX_PLANE_BYTES = 96 * 2 ** 20;

/** Image counts per group (see winogradPlaneBytesPerImage). */
function imageGroups(l: Layout): number[] {
  const perGroup = Math.max(1, Math.floor(l.maxPlaneBytes / winogradPlaneBytesPerImage(l.ho, l.wo, l.cin, l.cout, l.m)));
  const groups: number[] = [];
  for (let left = l.n; left > 0; left -= perGroup) groups.push(Math.min(perGroup, left));
  return groups;
}

function forGroup(l: Layout, n: number): Layout {
  return { ...l, n };
}

function forwardGroup(x: Tensor4D, u: Tensor3D, l: Layout): Tensor4D {
  const v = gather(padInput(x, l), l, 'input');
  // one batched product (our SIMD BatchMatMul: whole planes per thread) rather than alpha^2 calls
  const y = scatter(tf.matMul(v, u), l, 'output', l.tilesH * l.m, l.tilesW * l.m);
  return l.ho === l.tilesH * l.m && l.wo === l.tilesW * l.m ? y : tf.slice(y, [0, 0, 0, 0], [l.n, l.ho, l.wo, l.cout]);
}

function forward(x: Tensor4D, filter: Tensor4D, l: Layout): Tensor4D {
  const u = transformFilter(filter, l);
  const groups = imageGroups(l);
  if (groups.length === 1) return forwardGroup(x, u, l);
  const parts = tf.split(x, groups, 0) as Tensor4D[];
  // each group's planes are freed before the next group's are made
  return tf.concat(
    parts.map((xi, i) => tf.tidy(() => forwardGroup(xi, u, forGroup(l, groups[i]!)))),
    0,
  );
}

/**
 * dU_i = V_i^T dM_i: where our a^T b kernel beats XNNPACK (one thread) from V's planes as they
 * are, else through V written transposed, as one batched product.
 */
function filterGradientPlanes(xPadded: Tensor4D, dm: Tensor3D, l: Layout): Tensor3D {
  const v = gather(xPadded, l, 'input');
  const du = matMulTNWasm(v, dm);
  if (du) return du;
  return tf.matMul(gather(xPadded, l, 'input-transposed'), dm);
}

/** One group's input gradient and its filter gradient as kron(G, G)^T dU, [9, Cin * Cout]. */
function gradientsGroup(x: Tensor4D, u: Tensor3D, dy: Tensor4D, l: Layout): [Tensor4D, Tensor2D] {
  const alpha = l.m + 2;
  const dyTiles = l.ho === l.tilesH * l.m && l.wo === l.tilesW * l.m ? dy : tf.pad(dy, [[0, 0], [0, l.tilesH * l.m - l.ho], [0, l.tilesW * l.m - l.wo], [0, 0]]);
  const dm = gather(dyTiles, l, 'grad-output');
  // dV_i = dM_i U_i^T: the batched product packs each U_i^T itself
  const dxPadded = scatter(tf.matMul(dm, u, false, true), l, 'grad-input', l.hp, l.wp);
  const dx = tf.slice(dxPadded, [0, l.pad.top, l.pad.left, 0], [l.n, l.h, l.w, l.cin]);
  const du = filterGradientPlanes(padInput(x, l), dm, l);
  return [dx, tf.matMul(filterMatrix(l.m, 'backward'), tf.reshape(du, [alpha * alpha, l.cin * l.cout]))];
}

function gradients(x: Tensor4D, filter: Tensor4D, dy: Tensor4D, l: Layout): [Tensor4D, Tensor4D] {
  const u = transformFilter(filter, l);
  const groups = imageGroups(l);
  let dx: Tensor4D;
  let dFlat: Tensor2D;
  if (groups.length === 1) {
    [dx, dFlat] = gradientsGroup(x, u, dy, l);
  } else {
    const xs = tf.split(x, groups, 0) as Tensor4D[];
    const dys = tf.split(dy, groups, 0) as Tensor4D[];
    const parts = xs.map((xi, i) => tf.tidy(() => gradientsGroup(xi, u, dys[i]!, forGroup(l, groups[i]!))));
    dx = tf.concat(parts.map(([dxi]) => dxi), 0);
    dFlat = tf.addN(parts.map(([, di]) => di));
  }
  return [dx, tf.reshape(dFlat, [3, 3, l.cin, l.cout])];
}

/**
 * Output rows per band so that one image's planes stay under `maxPlaneBytes` (whole tile rows, at
 * least one).
 */
function rowsPerBand(wo: number, cin: number, cout: number, m: 2 | 4, maxPlaneBytes: number): number {
  const perTileRow = winogradPlaneBytesPerImage(m, wo, cin, cout, m);
  return m * Math.max(1, Math.floor(maxPlaneBytes / perTileRow));
}

/**
 * An image whose planes alone pass the budget (P2 of an FPN at 1333x800: 155 MB at 256 channels)
 * goes through in bands of `bandRows` output rows, each its own Winograd convolution of the input
 * rows it reads (two rows of overlap, the zero padding where the band meets the map's edge), the
 * outputs concatenated. The gradient follows through the slices and the concat: the overlapping
 * input rows get the sum of both bands' gradients.
 */
function inRowBands(x: Tensor4D, filter: Tensor4D, pad: WinogradPadding, m: 2 | 4, maxPlaneBytes: number, bandRows: number): Tensor4D {
  const [n, h, w, cin] = x.shape;
  const ho = h + pad.top + pad.bottom - 2;
  return tf.tidy(() => {
    const bands: Tensor4D[] = [];
    for (let r0 = 0; r0 < ho; r0 += bandRows) {
      const r1 = Math.min(ho, r0 + bandRows);
      // output rows r0..r1-1 read padded rows r0..r1+1, input rows r0-top..r1+1-top
      const lo = Math.max(0, r0 - pad.top);
      const hi = Math.min(h, r1 + 2 - pad.top);
      const band = { top: lo - (r0 - pad.top), bottom: r1 + 2 - pad.top - hi, left: pad.left, right: pad.right };
      const rows = tf.slice(x, [0, lo, 0, 0], [n, hi - lo, w, cin]);
      bands.push(winogradConv2d(rows, filter, band, m, maxPlaneBytes));
    }
    return tf.concat(bands, 1) as Tensor4D;
  });
}

/**
 * y = conv2d(x, filter) for a 3x3 HWIO filter, stride 1, no dilation, with explicit zero
 * padding, by F(m x m, 3 x 3); differentiable (its own gradient, see above). Needs the wasm
 * backend with its SIMD kernels (`winogradAvailable()`) and channel counts that are multiples
 * of 4. Batches whose transform planes would pass `maxPlaneBytes` go through in groups of images,
 * an image whose planes alone would in bands of rows (inRowBands).
 */
export function winogradConv2d(x: Tensor4D, filter: Tensor4D, pad: WinogradPadding, m?: 2 | 4, maxPlaneBytes = WINOGRAD_MAX_PLANE_BYTES): Tensor4D {
  const [kh, kw, fin, cout] = filter.shape;
  if (kh !== 3 || kw !== 3) throw new Error(`winogradConv2d: expects a 3x3 filter, got ${kh}x${kw}`);
  if (fin !== x.shape[3]) throw new Error(`winogradConv2d: input has ${x.shape[3]} channels but the filter expects ${fin}`);
  for (const side of ['top', 'bottom', 'left', 'right'] as const) {
    const p = (pad as unknown as Record<string, unknown> | undefined)?.[side];
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0) throw new Error(`winogradConv2d: pad.${side} must be an integer >= 0, got ${JSON.stringify(p)}`);
  }
  const ho = x.shape[1] + pad.top + pad.bottom - 2;
  const wo = x.shape[2] + pad.left + pad.right - 2;
  if (ho < 1 || wo < 1) throw new Error(`winogradConv2d: a 3x3 kernel does not fit a padded ${x.shape[1]}x${x.shape[2]} input`);
  const tile = m ?? winogradTileSize(ho, wo);
  const bandRows = rowsPerBand(wo, fin, cout, tile, maxPlaneBytes);
  if (bandRows < ho) return inRowBands(x, filter, pad, tile, maxPlaneBytes, bandRows);
  const l = layout(x.shape, cout, pad, tile, maxPlaneBytes);
  if (tf.engine().state.gradientDepth === 0) return tf.tidy(() => forward(x, filter, l));
  const op = tf.customGrad((...args) => {
    const [xi, fi, save] = args as [Tensor4D, Tensor4D, (tensors: Tensor[]) => void];
    save([xi, fi]);
    return {
      value: tf.tidy(() => forward(xi, fi, l)),
      gradFunc: (dy: Tensor4D, saved: Tensor[]) => {
        const [xs, fs] = saved as [Tensor4D, Tensor4D];
        return tf.tidy(() => gradients(xs, fs, dy, l));
      },
    };
  });
  return op(x, filter);
}
