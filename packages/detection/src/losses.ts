import { absSignGrad, softCrossEntropy, tf } from '@partialnet/core';

/**
 * Elementwise binary cross-entropy with logits, stable for large |x|: max(x, 0) - x t + log(1 + e^-|x|).
 * Its gradient at x = 0 is right (sigmoid(0) - t) because relu'(0) = 0 and tf.abs'(0) = -1 make up
 * for each other: absSignGrad here would make it -t.
 */
export function bceWithLogits(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.add(tf.sub(tf.relu(logits), tf.mul(logits, targets)), tf.softplus(tf.neg(tf.abs(logits)))));
}

export interface FocalLossOptions {
  alpha?: number;
  gamma?: number;
}

function focalForward(x: tf.Tensor, t: tf.Tensor, w: tf.Tensor | null, alpha: number, gamma: number, avgFactor: number): tf.Scalar {
  return tf.tidy(() => {
    const p = tf.sigmoid(x);
    const pt = tf.add(tf.mul(tf.sub(1, p), t), tf.mul(p, tf.sub(1, t)));
    const mod = gamma === 2 ? tf.square(pt) : tf.pow(pt, gamma);
    const at = tf.add(tf.mul(t, alpha), tf.mul(tf.sub(1, t), 1 - alpha));
    let loss = tf.mul(tf.mul(bceWithLogits(x, t), at), mod);
    if (w) loss = tf.mul(loss, w);
    return tf.div(tf.sum(loss), Math.max(avgFactor, 1e-12)) as tf.Scalar;
  });
}

/**
 * d(loss)/dx in closed form for binary targets (what mmcv's CUDA kernel computes):
 * t = 1: alpha (1 - p)^g (g p log p - (1 - p)); t = 0: (1 - alpha) p^g (p - g (1 - p) log(1 - p)).
 */
function focalGrad(x: tf.Tensor, t: tf.Tensor, w: tf.Tensor | null, alpha: number, gamma: number): tf.Tensor {
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
 * Sigmoid focal loss (Lin et al.; mmdet's FocalLoss): BCE(x, t) * (alpha t + (1 - alpha)(1 - t))
 * * pt^gamma with pt = 1 - p for positives' targets and p otherwise. `targets` are binary one-hot
 * [N, K] (background rows all zero), `weights` broadcast against them ([N, 1] per candidate, 0 for
 * ignored). Sum / avgFactor.
 *
 * The gradient is written out (as mmcv's kernel does) rather than taped: taped, the dozen
 * [anchors, classes] intermediates stay alive until the backward pass, which at 512x512 with 80
 * classes is most of wasm's memory.
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
        tf.tidy(() => tf.mul(focalGrad(saved[0]!, saved[1]!, saved[2] ?? null, alpha, gamma), tf.div(dy, Math.max(avgFactor, 1e-12)))),
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
