import { tf } from '@partialnet/core';

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

/** Indices of the `k` largest values among `indices` (by `values[i]`), in descending order. */
export function topKIndices(values: ArrayLike<number>, indices: number[], k: number): number[] {
  indices.sort((a, b) => values[b]! - values[a]! || a - b);
  return indices.length > k ? indices.slice(0, k) : indices;
}

/** sigmoid(x) read back to the host (the intermediate tensor is released). */
export function hostSigmoid(x: tf.Tensor): Float32Array {
  const s = tf.sigmoid(x);
  const data = s.dataSync() as Float32Array;
  s.dispose();
  return data;
}
