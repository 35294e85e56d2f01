import { readHostSync, tf } from '@partialnet/core';

/** [height, width] of each map. */
export function levelSizes(maps: readonly tf.Tensor4D[]): [number, number][] {
  return maps.map((m) => [m.shape[1], m.shape[2]]);
}

/**
 * Head outputs [B, H, W, A * k] per level to one [B * N, k] tensor, N = sum of H * W * A: the
 * order of AnchorGenerator.allAnchors within each image.
 */
export function flattenLevels(maps: readonly tf.Tensor4D[], k: number): tf.Tensor2D {
  return tf.tidy(() => {
    const b = maps[0]!.shape[0];
    const parts = maps.map((m) => tf.reshape(m, [b, -1, k]));
    const all = parts.length === 1 ? parts[0]! : tf.concat(parts, 1);
    return tf.reshape(all, [-1, k]) as tf.Tensor2D;
  });
}

/** The best `k` (anchor, class) pairs of one image of one level, read back to the host. */
export interface LevelTopK {
  /** sigmoid scores, descending (ties: lower index first). */
  scores: Float32Array;
  /** Index into the level's flattened [H * W * A * numClasses] scores. */
  indices: Int32Array;
  /** The regression deltas [k, 4] of each pair's anchor. */
  deltas: Float32Array;
}

/** The device part of levelTopK: top-k scores, their flat indices and the deltas of their anchors. */
function levelTopKTensors(cls: tf.Tensor4D, reg: tf.Tensor4D, k: number, numClasses: number): [tf.Tensor2D, tf.Tensor2D, tf.Tensor3D] {
  const B = cls.shape[0];
  return tf.tidy(() => {
    const s = tf.sigmoid(tf.reshape(cls, [B, -1]));
    const top = tf.topk(s, Math.min(k, s.shape[1]!));
    const anchor = numClasses === 1 ? top.indices : tf.floorDiv(top.indices, tf.scalar(numClasses, 'int32'));
    // A batched gather (batchDims 1) reads out of bounds on tfjs-backend-wasm 4.22 for B > 1: gather
    // from the flattened [B * N, 4] with per-image offsets instead.
    const n = reg.shape[1] * reg.shape[2] * (reg.shape[3] / 4);
    const flat = tf.add(anchor, tf.mul(tf.range(0, B, 1, 'int32').reshape([B, 1]), tf.scalar(n, 'int32')));
    const rows = tf.gather(tf.reshape(reg, [B * n, 4]), tf.reshape(flat, [-1]));
    return [top.values as tf.Tensor2D, top.indices as tf.Tensor2D, tf.reshape(rows, [B, -1, 4]) as tf.Tensor3D];
  });
}

/** The host part of levelTopK, from the values read back. */
function levelTopKFromHost(v: Float32Array, i: Int32Array, d: Float32Array, B: number, kk: number): LevelTopK[] {
  const out: LevelTopK[] = [];
  for (let b = 0; b < B; b++) {
    // Backends break ties in their own order; sort as the host did (score, then index).
    const order = Array.from({ length: kk }, (_, j) => j);
    const sv = v.subarray(b * kk, (b + 1) * kk);
    const si = i.subarray(b * kk, (b + 1) * kk);
    order.sort((x, y) => sv[y]! - sv[x]! || si[x]! - si[y]!);
    const sd = d.subarray(b * kk * 4, (b + 1) * kk * 4);
    out.push({
      scores: Float32Array.from(order, (j) => sv[j]!),
      indices: Int32Array.from(order, (j) => si[j]!),
      deltas: Float32Array.from({ length: kk * 4 }, (_, q) => sd[4 * order[q >> 2]! + (q & 3)]!),
    });
  }
  return out;
}

/**
 * Per image, the `k` highest sigmoid scores of a level's classification map `cls` [B, H, W, A * C]
 * and the deltas of their anchors from `reg` [B, H, W, A * 4]: the selection runs on the device
 * (topk, gather), so only k * (C + 5) numbers per image come back instead of the whole maps.
 */
export async function levelTopK(cls: tf.Tensor4D, reg: tf.Tensor4D, k: number, numClasses: number): Promise<LevelTopK[]> {
  const [values, indices, deltas] = levelTopKTensors(cls, reg, k, numClasses);
  const [v, i, d] = await Promise.all([values.data(), indices.data(), deltas.data()]);
  tf.dispose([values, indices, deltas]);
  return levelTopKFromHost(v as Float32Array, i as Int32Array, d as Float32Array, cls.shape[0], values.shape[1]!);
}

/** levelTopK read synchronously, for host-memory backends only (see readHostSync). */
export function levelTopKSync(cls: tf.Tensor4D, reg: tf.Tensor4D, k: number, numClasses: number): LevelTopK[] {
  const [values, indices, deltas] = levelTopKTensors(cls, reg, k, numClasses);
  try {
    const what = 'levelTopKSync';
    return levelTopKFromHost(readHostSync<'float32'>(values, what), readHostSync<'int32'>(indices, what), readHostSync<'float32'>(deltas, what), cls.shape[0], values.shape[1]!);
  } finally {
    tf.dispose([values, indices, deltas]);
  }
}
