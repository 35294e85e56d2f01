import { gatherWeightedSum, tf } from '@partialnet/core';

/**
 * RoIAlign (mmcv semantics, aligned = true, sampling ratio 0 = adaptive ceil(bin size) samples per
 * bin axis, average pooling), with its exact gradient. `multiLevelRoiAlign` (what the detectors
 * use) runs on the device; the host kernels here are the reference it is tested against, and
 * the source of its sampling weights.
 *
 * No tfjs backend has a gradient for cropAndResize or gatherND, wasm has no UnsortedSegmentSum
 * (gather's gradient), and a dense interpolation matrix would be rois x pixels (hundreds of MB).
 * Bilinear RoIAlign is separable: a bin's value is
 * sum_y sum_x wy(y) wx(x) F[y, x, :], where wy (wx) is the average of the bilinear row (column)
 * weights of the bin's sample rows (columns), and a sample outside [-1, H] x [-1, W] is zero in
 * either factor. So each roi costs a few small row and column weight lists, and the forward and
 * the backward are the same sparse sums in opposite directions.
 */

export interface RoiAlignOptions {
  outH: number;
  outW: number;
  /** Feature map stride's inverse (1 / stride). */
  spatialScale: number;
  /** Samples per bin axis; 0 (mmdet's default) adapts to ceil(bin size). */
  samplingRatio?: number;
  /** Shift by half a pixel (aligned = true, as every mmdet v2 config). */
  aligned?: boolean;
}

/** Sparse separable weights: for each output row (column), `start` and dense weights over a window. */
interface AxisWeights {
  start: Int32Array;
  len: Int32Array;
  /** Concatenated windows; `offset[p]` is where output p's weights begin. */
  offset: Int32Array;
  w: Float64Array;
}

function axisWeights(start: number, binSize: number, bins: number, grid: number, size: number): AxisWeights {
  const starts = new Int32Array(bins);
  const lens = new Int32Array(bins);
  const offsets = new Int32Array(bins);
  const lists: Float64Array[] = [];
  let total = 0;
  for (let p = 0; p < bins; p++) {
    // Window: the rows any sample of this bin touches.
    let lo = Infinity;
    let hi = -Infinity;
    const taps: [number, number][] = [];
    for (let i = 0; i < grid; i++) {
      let y = start + p * binSize + ((i + 0.5) * binSize) / grid;
      if (y < -1 || y > size) continue;
      if (y <= 0) y = 0;
      let low = Math.floor(y);
      let high: number;
      if (low >= size - 1) {
        high = low = size - 1;
        y = low;
      } else {
        high = low + 1;
      }
      const l = y - low;
      taps.push([low, (1 - l) / grid], [high, l / grid]);
      lo = Math.min(lo, low);
      hi = Math.max(hi, high);
    }
    if (taps.length === 0) {
      starts[p] = 0;
      lens[p] = 0;
      offsets[p] = total;
      lists.push(new Float64Array(0));
      continue;
    }
    const w = new Float64Array(hi - lo + 1);
    for (const [r, v] of taps) w[r - lo] += v;
    starts[p] = lo;
    lens[p] = w.length;
    offsets[p] = total;
    total += w.length;
    lists.push(w);
  }
  const all = new Float64Array(total);
  lists.forEach((l, p) => all.set(l, offsets[p]!));
  return { start: starts, len: lens, offset: offsets, w: all };
}

interface RoiGeometry {
  batch: number;
  ys: AxisWeights;
  xs: AxisWeights;
}

function roiGeometry(rois: ArrayLike<number>, k: number, h: number, w: number, o: RoiAlignOptions): RoiGeometry {
  const offset = (o.aligned ?? true) ? 0.5 : 0;
  const s = o.spatialScale;
  const x1 = rois[5 * k + 1]! * s - offset;
  const y1 = rois[5 * k + 2]! * s - offset;
  let rw = rois[5 * k + 3]! * s - offset - x1;
  let rh = rois[5 * k + 4]! * s - offset - y1;
  if (!(o.aligned ?? true)) {
    rw = Math.max(rw, 1);
    rh = Math.max(rh, 1);
  }
  const binH = rh / o.outH;
  const binW = rw / o.outW;
  const ratio = o.samplingRatio ?? 0;
  const gridH = ratio > 0 ? ratio : Math.ceil(rh / o.outH);
  const gridW = ratio > 0 ? ratio : Math.ceil(rw / o.outW);
  return { batch: rois[5 * k]!, ys: axisWeights(y1, binH, o.outH, gridH, h), xs: axisWeights(x1, binW, o.outW, gridW, w) };
}

/**
 * Forward on host arrays. `features` NHWC [N, H, W, C] flat; `rois` [K, 5] as (batchIndex, x1, y1,
 * x2, y2) in image pixels. Returns [K, outH, outW, C].
 */
export function roiAlignForwardHost(features: Float32Array, shape: readonly [number, number, number, number], rois: ArrayLike<number>, o: RoiAlignOptions, out?: Float32Array, outOffset = 0): Float32Array {
  const [, H, W, C] = shape;
  const K = rois.length / 5;
  const res = out ?? new Float32Array(K * o.outH * o.outW * C);
  const tmp = new Float64Array(W * C);
  for (let k = 0; k < K; k++) {
    const g = roiGeometry(rois, k, H, W, o);
    const img = g.batch * H * W * C;
    // Columns any bin of this roi touches: rows are first reduced over this window only.
    let c0 = Infinity;
    let c1 = -Infinity;
    for (let px = 0; px < o.outW; px++) {
      if (g.xs.len[px]! === 0) continue;
      c0 = Math.min(c0, g.xs.start[px]!);
      c1 = Math.max(c1, g.xs.start[px]! + g.xs.len[px]! - 1);
    }
    for (let py = 0; py < o.outH; py++) {
      const base = outOffset + ((k * o.outH + py) * o.outW) * C;
      if (g.ys.len[py]! === 0 || c0 > c1) continue;
      tmp.fill(0, 0, (c1 - c0 + 1) * C);
      const ry = g.ys.start[py]!;
      const oy = g.ys.offset[py]!;
      for (let r = 0; r < g.ys.len[py]!; r++) {
        const wy = g.ys.w[oy + r]!;
        if (wy === 0) continue;
        let src = img + ((ry + r) * W + c0) * C;
        const n = (c1 - c0 + 1) * C;
        for (let t = 0; t < n; t++) tmp[t] += wy * features[src++]!;
      }
      for (let px = 0; px < o.outW; px++) {
        const ox = g.xs.offset[px]!;
        const dst = base + px * C;
        for (let q = 0; q < g.xs.len[px]!; q++) {
          const wx = g.xs.w[ox + q]!;
          if (wx === 0) continue;
          const src = (g.xs.start[px]! + q - c0) * C;
          for (let c = 0; c < C; c++) res[dst + c] += wx * tmp[src + c]!;
        }
      }
    }
  }
  return res;
}

/** The adjoint of roiAlignForwardHost: accumulates dL/dfeatures from dL/doutput [K, outH, outW, C]. */
export function roiAlignBackwardHost(dy: Float32Array, shape: readonly [number, number, number, number], rois: ArrayLike<number>, o: RoiAlignOptions, grad?: Float32Array, dyOffset = 0): Float32Array {
  const [N, H, W, C] = shape;
  const K = rois.length / 5;
  const res = grad ?? new Float32Array(N * H * W * C);
  const tmp = new Float64Array(W * C);
  for (let k = 0; k < K; k++) {
    const g = roiGeometry(rois, k, H, W, o);
    const img = g.batch * H * W * C;
    let c0 = Infinity;
    let c1 = -Infinity;
    for (let px = 0; px < o.outW; px++) {
      if (g.xs.len[px]! === 0) continue;
      c0 = Math.min(c0, g.xs.start[px]!);
      c1 = Math.max(c1, g.xs.start[px]! + g.xs.len[px]! - 1);
    }
    if (c0 > c1) continue;
    for (let py = 0; py < o.outH; py++) {
      if (g.ys.len[py]! === 0) continue;
      const base = dyOffset + ((k * o.outH + py) * o.outW) * C;
      tmp.fill(0, 0, (c1 - c0 + 1) * C);
      for (let px = 0; px < o.outW; px++) {
        const ox = g.xs.offset[px]!;
        const src = base + px * C;
        for (let q = 0; q < g.xs.len[px]!; q++) {
          const wx = g.xs.w[ox + q]!;
          if (wx === 0) continue;
          const dst = (g.xs.start[px]! + q - c0) * C;
          for (let c = 0; c < C; c++) tmp[dst + c] += wx * dy[src + c]!;
        }
      }
      const ry = g.ys.start[py]!;
      const oy = g.ys.offset[py]!;
      const n = (c1 - c0 + 1) * C;
      for (let r = 0; r < g.ys.len[py]!; r++) {
        const wy = g.ys.w[oy + r]!;
        if (wy === 0) continue;
        let dst = img + ((ry + r) * W + c0) * C;
        for (let t = 0; t < n; t++) res[dst++] += wy * tmp[t]!;
      }
    }
  }
  return res;
}

/**
 * mmdet's map_roi_levels: level floor(log2(sqrt(area) / finestScale + 1e-6)) clamped to the
 * available levels (finest scale 56: a 224-pixel roi goes to the stride-16 map).
 */
export function mapRoiLevels(rois: ArrayLike<number>, numLevels: number, finestScale = 56): Int32Array {
  const K = rois.length / 5;
  const out = new Int32Array(K);
  for (let k = 0; k < K; k++) {
    const scale = Math.sqrt((rois[5 * k + 3]! - rois[5 * k + 1]!) * (rois[5 * k + 4]! - rois[5 * k + 2]!));
    const lvl = Math.floor(Math.log2(scale / finestScale + 1e-6));
    out[k] = Math.min(Math.max(lvl, 0), numLevels - 1);
  }
  return out;
}

export interface MultiLevelRoiAlignOptions {
  outSize: number;
  /** Strides of the maps given (4, 8, 16, 32 for Mask R-CNN). */
  strides: number[];
  samplingRatio?: number;
  finestScale?: number;
  /**
   * The most bytes one gather may produce (bins x taps x channels x 4); the rois of a level go in
   * chunks under it, sorted by their tap window. Default 64 MiB.
   */
  chunkBytes?: number;
}

/**
 * The sparse sampling plan of the rois of one level: output bin (k, py, px) is the weighted sum of
 * `taps` feature rows, row ids `index` (into the level's [N * H * W, C] view) with `weight`, taps
 * padded to the same count for every bin (padding: weight 0 on row 0). Built on the host from the
 * roi boxes (host data: proposals come out of host NMS), reusing the separable weights of the host
 * kernel: tap (r, q) of bin (py, px) has weight wy[py][r] * wx[px][q].
 */
interface SamplingPlan {
  index: Int32Array;
  weight: Float32Array;
  taps: number;
}

/** Rows (ty) and columns (tx) of the widest bin of a roi: its bins' tap window. */
function tapWindow(g: RoiGeometry, o: RoiAlignOptions): [number, number] {
  let ty = 1;
  let tx = 1;
  for (let p = 0; p < o.outH; p++) ty = Math.max(ty, g.ys.len[p]!);
  for (let p = 0; p < o.outW; p++) tx = Math.max(tx, g.xs.len[p]!);
  return [ty, tx];
}

function samplingPlan(rois: Float32Array, shape: readonly [number, number, number, number], o: RoiAlignOptions): SamplingPlan {
  const [, H, W] = shape;
  const K = rois.length / 5;
  const geos = Array.from({ length: K }, (_, k) => roiGeometry(rois, k, H, W, o));
  let ty = 1;
  let tx = 1;
  for (const g of geos) {
    const [y, x] = tapWindow(g, o);
    ty = Math.max(ty, y);
    tx = Math.max(tx, x);
  }
  const taps = ty * tx;
  const index = new Int32Array(K * o.outH * o.outW * taps);
  const weight = new Float32Array(index.length);
  geos.forEach((g, k) => {
    const img = g.batch * H * W;
    for (let py = 0; py < o.outH; py++) {
      for (let px = 0; px < o.outW; px++) {
        const base = ((k * o.outH + py) * o.outW + px) * taps;
        for (let r = 0; r < g.ys.len[py]!; r++) {
          const wy = g.ys.w[g.ys.offset[py]! + r]!;
          const row = img + (g.ys.start[py]! + r) * W;
          for (let q = 0; q < g.xs.len[px]!; q++) {
            const t = base + r * tx + q;
            index[t] = row + g.xs.start[px]! + q;
            weight[t] = wy * g.xs.w[g.xs.offset[px]! + q]!;
          }
        }
      }
    }
  });
  return { index, weight, taps };
}

/**
 * RoIAlign of the rois of one level on the device: each bin the weighted sum of its planned
 * feature rows (core's gatherWeightedSum: on wasm one kernel each way on every thread, elsewhere
 * gather, multiply and sum, with ScatterNd as the gradient, which sums updates that land on the
 * same row).
 */
function roiAlignLevel(feature: tf.Tensor4D, rois: Float32Array, o: RoiAlignOptions): tf.Tensor4D {
  const [N, H, W, C] = feature.shape;
  const K = rois.length / 5;
  const plan = samplingPlan(rois, feature.shape, o);
  const bins = K * o.outH * o.outW;
  return tf.tidy(() => {
    // the plan is uploaded once per call; the op keeps it for the backward pass
    const index = tf.tensor2d(plan.index, [bins, plan.taps], 'int32');
    const weight = tf.tensor2d(plan.weight, [bins, plan.taps]);
    const pooled = gatherWeightedSum(tf.reshape(feature, [N * H * W, C]) as tf.Tensor2D, index, weight);
    return tf.reshape(pooled, [K, o.outH, o.outW, C]) as tf.Tensor4D;
  });
}

/**
 * Rows of `x` in the order `perm` (a permutation), with the inverse permutation as its gradient:
 * a plain tf.gather would need UnsortedSegmentSum for its gradient, which wasm lacks.
 */
function permuteRows(x: tf.Tensor4D, perm: Int32Array): tf.Tensor4D {
  const inverse = new Int32Array(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  const op = tf.customGrad((...args: unknown[]) => ({
    value: tf.gather(args[0] as tf.Tensor, tf.tensor1d(perm, 'int32')),
    gradFunc: (dy: tf.Tensor) => tf.gather(dy, tf.tensor1d(inverse, 'int32')),
  }));
  return op(x) as tf.Tensor4D;
}

/**
 * mmdet's SingleRoIExtractor: each roi is pooled from the level its scale maps to. `features` are
 * NHWC maps (one per stride, same channels), `rois` [K, 5] host (batchIndex, x1, y1, x2, y2);
 * returns [K, outSize, outSize, C]. Differentiable with respect to the features (not the rois,
 * which are detached proposals as in mmdet), on every backend.
 *
 * Runs on the device: the feature maps never leave it. What crosses is the sampling plan built
 * on the host from the roi boxes (8 bytes per tap: a row index and a weight). Same sums as the
 * host kernel above (`roiAlignForwardHost`, kept as the reference), in another order.
 */
export function multiLevelRoiAlign(features: readonly tf.Tensor4D[], rois: Float32Array, options: MultiLevelRoiAlignOptions): tf.Tensor4D {
  const L = features.length;
  if (options.strides.length !== L) throw new Error(`multiLevelRoiAlign: ${L} maps but ${options.strides.length} strides`);
  const C = features[0]!.shape[3];
  const S = options.outSize;
  const K = rois.length / 5;
  if (K === 0) return tf.zeros([0, S, S, C]);
  const levels = mapRoiLevels(rois, L, options.finestScale ?? 56);
  const chunkBytes = options.chunkBytes ?? 64 * 2 ** 20;
  const order: number[] = [];
  return tf.tidy(() => {
    const parts: tf.Tensor4D[] = [];
    for (let l = 0; l < L; l++) {
      const o: RoiAlignOptions = { outH: S, outW: S, spatialScale: 1 / options.strides[l]!, samplingRatio: options.samplingRatio ?? 0, aligned: true };
      const [, H, W] = features[l]!.shape;
      // Rois by tap count, in chunks whose gathered rows stay under the budget: every bin of a
      // chunk is padded to the chunk's widest window, and a GPU binds at most a few hundred MB
      // per buffer (lavapipe: 128 MB).
      const idx: { k: number; ty: number; tx: number }[] = [];
      for (let k = 0; k < K; k++) {
        if (levels[k] !== l) continue;
        const [ty, tx] = tapWindow(roiGeometry(rois, k, H, W, o), o);
        idx.push({ k, ty, tx });
      }
      idx.sort((a, b) => a.ty * a.tx - b.ty * b.tx || a.k - b.k);
      for (let start = 0; start < idx.length; ) {
        // A chunk's plan pads every bin to its largest row count times its largest column count.
        let ty = idx[start]!.ty;
        let tx = idx[start]!.tx;
        let end = start + 1;
        while (end < idx.length) {
          const y = Math.max(ty, idx[end]!.ty);
          const x = Math.max(tx, idx[end]!.tx);
          if ((end + 1 - start) * S * S * y * x * C * 4 > chunkBytes) break;
          ty = y;
          tx = x;
          end++;
        }
        const chunk = idx.slice(start, end);
        const r = new Float32Array(chunk.length * 5);
        chunk.forEach(({ k }, j) => r.set(rois.subarray(5 * k, 5 * k + 5), 5 * j));
        parts.push(roiAlignLevel(features[l]!, r, o));
        order.push(...chunk.map(({ k }) => k));
        start = end;
      }
    }
    const pooled = parts.length === 1 ? parts[0]! : (tf.concat(parts, 0) as tf.Tensor4D);
    // pooled row j is roi order[j]; output row k must be roi k.
    const perm = new Int32Array(K);
    order.forEach((k, j) => (perm[k] = j));
    if (perm.every((p, k) => p === k)) return pooled;
    return permuteRows(pooled, perm);
  });
}
