import { tf } from '@partialnet/core';

/**
 * Counts of samples whose label is among the top-k logits, for each k in `ks`, computed on the host
 * from row-major logits [N, K]. Ties count against the sample (a label tied with others is ranked
 * after them), so constant logits never score.
 */
export function topKCorrect(logits: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number, ks: readonly number[]): number[] {
  const n = labels.length;
  const out = ks.map(() => 0);
  for (let i = 0; i < n; i++) {
    const label = labels[i]!;
    const v = logits[i * numClasses + label]!;
    let rank = 0;
    for (let c = 0; c < numClasses; c++) {
      if (c === label) continue;
      if (logits[i * numClasses + c]! >= v) rank++;
    }
    ks.forEach((k, j) => {
      if (rank < k) out[j]!++;
    });
  }
  return out;
}

/** One-hot targets with label smoothing (PyTorch / timm: 1 - s + s/K on the label, s/K elsewhere). */
export function smoothOneHot(labels: ArrayLike<number>, numClasses: number, smoothing: number, out?: Float32Array): Float32Array {
  const t = out ?? new Float32Array(labels.length * numClasses);
  const off = smoothing / numClasses;
  for (let i = 0; i < labels.length; i++) {
    for (let c = 0; c < numClasses; c++) t[i * numClasses + c] = off;
    t[i * numClasses + labels[i]!]! += 1 - smoothing;
  }
  return t;
}
