import { absSignGrad, fusedSigmoidLossApplies, fusedSigmoidLossGrad, fusedSigmoidLossSum, softCrossEntropy, tf, type FusedSigmoidLoss } from '@partialnet/core';

/**
 * Elementwise binary cross-entropy with logits, stable for large |x|: max(x, 0) - x t + log(1 + e^-|x|).
 * Its gradient at x = 0 is right (sigmoid(0) - t) because relu'(0) = 0 and tf.abs'(0) = -1 make up
 * for each other: absSignGrad here would make it -t.
 */
export function bceWithLogits(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.add(tf.sub(tf.relu(logits), tf.mul(logits, targets)), tf.softplus(tf.neg(tf.abs(logits)))));
}

const BCE_FUSED: FusedSigmoidLoss = { kind: 'bce' };

/**
 * sum(bceWithLogits(logits, targets) * weights) / avgFactor, or their mean for avgFactor 'mean'
 * (weights null, of the logits' shape, or one per row [..., 1]). On wasm with its SIMD kernels
 * that is one fused pass forward and one backward (gradient (sigmoid(x) - t) w / avgFactor, what
 * the composite's autodiff gives, also at x = 0); elsewhere the composite, as before.
 */
export function bceWithLogitsLoss(logits: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor | null, avgFactor: number | 'mean'): tf.Scalar {
  if (!fusedSigmoidLossApplies(logits, targets, weights, BCE_FUSED)) {
    return tf.tidy(() => {
      const loss = weights ? tf.mul(bceWithLogits(logits, targets), weights) : bceWithLogits(logits, targets);
      return (avgFactor === 'mean' ? tf.mean(loss) : tf.div(tf.sum(loss), Math.max(avgFactor, 1e-12))) as tf.Scalar;
    });
  }
  const avg = avgFactor === 'mean' ? logits.size : Math.max(avgFactor, 1e-12);
  const value = (x: tf.Tensor): tf.Scalar => tf.tidy(() => tf.div(fusedSigmoidLossSum(x, targets, weights, BCE_FUSED)!, avg) as tf.Scalar);
  if (tf.engine().state.gradientDepth === 0) return value(logits);
  const op = tf.customGrad((...args: unknown[]) => {
    const [x, save] = args as [tf.Tensor, (ts: tf.Tensor[]) => void];
    // the targets and weights are often made inside the caller's tidy: kept for the backward pass
    save(weights ? [x, targets, weights] : [x, targets]);
    return {
      value: value(x),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => fusedSigmoidLossGrad(saved[0]!, saved[1]!, saved[2] ?? null, tf.div(dy, avg) as tf.Scalar, BCE_FUSED)!),
    };
  });
  return op(logits) as tf.Scalar;
}

export interface FocalLossOptions {
  alpha?: number;
  gamma?: number;
}

const FOCAL_FUSED = (alpha: number, gamma: number): FusedSigmoidLoss => ({ kind: 'focal', alpha, gamma });

/**
 * sum(focal loss * w) by tfjs ops: what every backend but wasm (with its SIMD kernels, for
 * gamma = 2) computes, and the reference core's fused kernel is tested against.
 */
export function focalLossSumComposite(x: tf.Tensor, t: tf.Tensor, w: tf.Tensor | null, alpha: number, gamma: number): tf.Scalar {
  return tf.tidy(() => {
    const p = tf.sigmoid(x);
    const pt = tf.add(tf.mul(tf.sub(1, p), t), tf.mul(p, tf.sub(1, t)));
    const mod = gamma === 2 ? tf.square(pt) : tf.pow(pt, gamma);
    const at = tf.add(tf.mul(t, alpha), tf.mul(tf.sub(1, t), 1 - alpha));
    let loss = tf.mul(tf.mul(bceWithLogits(x, t), at), mod);
    if (w) loss = tf.mul(loss, w);
    return tf.sum(loss) as tf.Scalar;
  });
}

/**
 * d(loss)/dx times w by tfjs ops, in closed form for binary targets (what mmcv's CUDA kernel
 * computes): t = 1: alpha (1 - p)^g (g p log p - (1 - p)); t = 0: (1 - alpha) p^g (p - g (1 - p) log(1 - p)).
 * The reference for core's fused gradient, as focalLossSumComposite is for the sum.
 */
export function focalGradComposite(x: tf.Tensor, t: tf.Tensor, w: tf.Tensor | null, alpha: number, gamma: number): tf.Tensor {
  return tf.tidy(() => {
    const p = tf.sigmoid(x);
    const q = tf.sub(1, p);
    const logP = tf.neg(tf.softplus(tf.neg(x)));
    const logQ = tf.neg(tf.softplus(x));
    const powG = (v: tf.Tensor) => (gamma === 2 ? tf.square(v) : tf.pow(v, gamma));
    const g1 = tf.mul(tf.mul(powG(q), alpha), tf.sub(tf.mul(tf.mul(p, logP), gamma), q));
    const g0 = tf.mul(tf.mul(powG(p), 1 - alpha), tf.sub(p, tf.mul(tf.mul(q, logQ), gamma)));
    const g = tf.add(tf.mul(t, g1), tf.mul(tf.sub(1, t), g0));
    return w ? tf.mul(g, w) : g;
  });
}

/**
 * sum(focal loss * w) / avgFactor: core's fused kernel where it applies (wasm with SIMD,
 * gamma = 2: one pass instead of a dozen and tfjs's scalar Softplus, on every kernel-pool
 * thread), else the composite.
 */
function focalForward(x: tf.Tensor, t: tf.Tensor, w: tf.Tensor | null, alpha: number, gamma: number, avgFactor: number): tf.Scalar {
  return tf.tidy(() => {
    const sum = fusedSigmoidLossSum(x, t, w, FOCAL_FUSED(alpha, gamma)) ?? focalLossSumComposite(x, t, w, alpha, gamma);
    return tf.div(sum, Math.max(avgFactor, 1e-12)) as tf.Scalar;
  });
}

/** d(loss)/dx * w * scale: core's fused kernel where it applies, else the composite (see focalForward). */
function focalGrad(x: tf.Tensor, t: tf.Tensor, w: tf.Tensor | null, alpha: number, gamma: number, scale: tf.Scalar): tf.Tensor {
  return fusedSigmoidLossGrad(x, t, w, scale, FOCAL_FUSED(alpha, gamma)) ?? tf.tidy(() => tf.mul(focalGradComposite(x, t, w, alpha, gamma), scale));
}

/**
 * Sigmoid focal loss (Lin et al.; mmdet's FocalLoss): BCE(x, t) * (alpha t + (1 - alpha)(1 - t))
 * * pt^gamma with pt = 1 - p for positives' targets and p otherwise. `targets` are binary one-hot
 * [N, K] (background rows all zero), `weights` broadcast against them ([N, 1] per candidate, 0 for
 * ignored). Sum / avgFactor.
 *
 * The gradient is written out (as mmcv's kernel does) rather than taped: taped, the dozen
 * [anchors, classes] intermediates stay alive until the backward pass, which at 512x512 with 80
 * classes is most of wasm's memory. On wasm (SIMD, gamma = 2) the value and the gradient are one
 * fused kernel each (core's fusedSigmoidLossSum / fusedSigmoidLossGrad).
 */
export function sigmoidFocalLoss(logits: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor | null, avgFactor: number, options: FocalLossOptions = {}): tf.Scalar {
  const alpha = options.alpha ?? 0.25;
  const gamma = options.gamma ?? 2;
  if (tf.engine().state.gradientDepth === 0) return focalForward(logits, targets, weights, alpha, gamma, avgFactor);
  const op = tf.customGrad((...args: unknown[]) => {
    const [x, save] = args as [tf.Tensor, (ts: tf.Tensor[]) => void];
    save(weights ? [x, targets, weights] : [x, targets]);
    return {
      value: focalForward(x, targets, weights, alpha, gamma, avgFactor),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => focalGrad(saved[0]!, saved[1]!, saved[2] ?? null, alpha, gamma, tf.div(dy, Math.max(avgFactor, 1e-12)) as tf.Scalar)),
    };
  });
  return op(logits) as tf.Scalar;
}

/**
 * sigmoidFocalLossByLabels in one fused kernel each way over all rows, from the labels themselves
 * (core's label targets: no one-hot, so no pieces, slices or concat; the kernels keep nothing but
 * x, the labels and the weights), or undefined where the kernels do not take these (then the
 * pieces below).
 */
function focalByLabelsFused(logits: tf.Tensor2D, labels: Int32Array, weights: Float32Array | null, avgFactor: number, alpha: number, gamma: number): tf.Scalar | undefined {
  const n = logits.shape[0];
  const loss = FOCAL_FUSED(alpha, gamma);
  const lab = tf.tensor1d(labels, 'int32');
  const w = weights ? tf.tensor2d(weights, [n, 1]) : null;
  const owned = w ? [lab, w] : [lab];
  if (!fusedSigmoidLossApplies(logits, { labels: lab }, w, loss)) {
    tf.dispose(owned);
    return undefined;
  }
  const avg = Math.max(avgFactor, 1e-12);
  const value = (x: tf.Tensor): tf.Scalar => tf.tidy(() => tf.div(fusedSigmoidLossSum(x, { labels: lab }, w, loss)!, avg) as tf.Scalar);
  if (tf.engine().state.gradientDepth === 0) {
    const out = value(logits);
    tf.dispose(owned);
    return out;
  }
  const op = tf.customGrad((...args: unknown[]) => {
    const [x, save] = args as [tf.Tensor, (ts: tf.Tensor[]) => void];
    save([x, ...owned]);
    return {
      value: value(x),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => fusedSigmoidLossGrad(saved[0]!, { labels: saved[1]! }, saved[2] ?? null, tf.div(dy, avg) as tf.Scalar, loss)!),
    };
  });
  const out = op(logits) as tf.Scalar;
  // the tape keeps its own references (saved above)
  tf.dispose(owned);
  return out;
}

/** Rows per piece in sigmoidFocalLossByLabels: ~16k anchors x 80 classes is 5 MB a tensor. */
const FOCAL_CHUNK_ROWS = 16384;

/** Rows [s, s + r) of class labels as a float one-hot [r, K] (label K, background: all zero). */
function oneHotRows(labels: Int32Array, s: number, r: number, k: number): tf.Tensor2D {
  const t = new Float32Array(r * k);
  for (let i = 0; i < r; i++) {
    const c = labels[s + i]!;
    if (c >= 0 && c < k) t[i * k + c] = 1;
  }
  return tf.tensor2d(t, [r, k]);
}

/**
 * sigmoidFocalLoss for logits [N, K] against class labels on the host (K = background, an
 * all-zero target row) and per-row weights, computed in pieces of rows: the [N, K] targets are
 * never built, and each piece's intermediates are freed before the next, in the forward pass and
 * in the written-out gradient. At 1333x800 RetinaNet has ~400k anchors per batch of 2, and one
 * [anchors, 80] tensor is 129 MB: built whole, the loss alone needed gigabytes of wasm's 4 GiB.
 * The value equals sigmoidFocalLoss up to the order of the float32 sums. On wasm with its SIMD
 * kernels (gamma = 2, K a multiple of 4) it is one fused kernel each way from the labels instead.
 */
export function sigmoidFocalLossByLabels(
  logits: tf.Tensor2D,
  labels: Int32Array,
  weights: Float32Array | null,
  avgFactor: number,
  options: FocalLossOptions = {},
  chunkRows = FOCAL_CHUNK_ROWS,
): tf.Scalar {
  const alpha = options.alpha ?? 0.25;
  const gamma = options.gamma ?? 2;
  const [n, k] = logits.shape;
  if (labels.length !== n) throw new Error(`sigmoidFocalLossByLabels: ${labels.length} labels for ${n} rows`);
  if (weights && weights.length !== n) throw new Error(`sigmoidFocalLossByLabels: ${weights.length} weights for ${n} rows`);
  const fused = focalByLabelsFused(logits, labels, weights, avgFactor, alpha, gamma);
  if (fused) return fused;
  const pieces: [number, number][] = [];
  for (let s = 0; s < n; s += chunkRows) pieces.push([s, Math.min(chunkRows, n - s)]);
  const piece = (x: tf.Tensor2D, s: number, r: number) => ({
    x: pieces.length === 1 ? x : (tf.slice(x, [s, 0], [r, k]) as tf.Tensor2D),
    t: oneHotRows(labels, s, r, k),
    w: weights ? tf.tensor2d(weights.subarray(s, s + r), [r, 1]) : null,
  });
  const forward = (x: tf.Tensor2D): tf.Scalar => {
    let total: tf.Scalar = tf.scalar(0);
    for (const [s, r] of pieces) {
      const next = tf.tidy(() => {
        const p = piece(x, s, r);
        return tf.add(total, focalForward(p.x, p.t, p.w, alpha, gamma, 1)) as tf.Scalar;
      });
      total.dispose();
      total = next;
    }
    const out = tf.div(total, Math.max(avgFactor, 1e-12)) as tf.Scalar;
    total.dispose();
    return out;
  };
  if (tf.engine().state.gradientDepth === 0) return forward(logits);
  const op = tf.customGrad((...args: unknown[]) => {
    const [x, save] = args as [tf.Tensor2D, (ts: tf.Tensor[]) => void];
    save([x]);
    return {
      value: forward(x),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const scale = tf.div(dy, Math.max(avgFactor, 1e-12)) as tf.Scalar;
        const parts = pieces.map(([s, r]) =>
          tf.tidy(() => {
            const p = piece(saved[0] as tf.Tensor2D, s, r);
            return focalGrad(p.x, p.t, p.w, alpha, gamma, scale);
          }),
        );
        scale.dispose();
        if (parts.length === 1) return parts[0]!;
        const g = tf.concat(parts, 0);
        tf.dispose(parts);
        return g;
      },
    };
  });
  return op(logits) as tf.Scalar;
}

/**
 * sum(|pred - target| * weights) / avgFactor (mmdet's L1Loss with avg_factor). |.| has torch.abs's
 * gradient, 0 where pred equals target (tf.abs's is -1 there).
 */
export function l1Loss(pred: tf.Tensor, target: tf.Tensor, weights: tf.Tensor | null, avgFactor: number): tf.Scalar {
  return tf.tidy(() => {
    let d = absSignGrad(tf.sub(pred, target));
    if (weights) d = tf.mul(d, weights);
    return tf.div(tf.sum(d), Math.max(avgFactor, 1e-12)) as tf.Scalar;
  });
}

/**
 * Softmax cross-entropy of logits [N, K] against host labels, weighted per row, sum / avgFactor
 * (mmdet's CrossEntropyLoss with avg_factor). The one-hot product stands in for a gather, whose
 * gradient wasm cannot compute.
 */
export function weightedCrossEntropy(logits: tf.Tensor2D, labels: Int32Array, weights: Float32Array | null, avgFactor: number): tf.Scalar {
  return tf.tidy(() => {
    const [n, k] = logits.shape;
    const onehot = new Float32Array(n * k);
    for (let i = 0; i < n; i++) onehot[i * k + labels[i]!] = weights ? weights[i]! : 1;
    return softCrossEntropy(logits, tf.tensor2d(onehot, [n, k]), avgFactor);
  });
}

/** Sum of named losses (what the optimizer minimises). */
export function totalLoss(losses: Record<string, tf.Scalar>): tf.Scalar {
  return tf.tidy(() => Object.values(losses).reduce((a: tf.Scalar, b) => tf.add(a, b), tf.scalar(0)));
}
