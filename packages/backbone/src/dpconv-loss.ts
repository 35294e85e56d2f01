import { addN, tf, type Module } from '@partialnet/core';
import { dpconvLayers } from './dpconv.js';

/**
 * The DPConv loss terms of the official training module (models/model_api.py), with its flags:
 *
 *   R = sum over DPConv layers of 2^(K + sum s)         (u_regular: live connections of the masks)
 *   G = sum over DPConv layers of C_in * C_out / b^2    (target complexity; b = u_regular_b)
 *   exponent = theta > 0 ? (R > G ? alpha : R >= theta*G ? 0 : -alpha) : (R <= G ? 0 : alpha)
 *   loss = task * (G / R)^exponent + gateAlpha * sum of the layers' gate-order losses
 *
 * `alpha` is the official `penalize_alpha`, used with the official sign: (G / R)^alpha grows with R
 * only for alpha < 0, so a NEGATIVE alpha is what penalises a model above the target (the factor
 * is then (R / G)^|alpha|); a positive alpha pushes towards denser masks.
 */
export interface DPConvLossOptions {
  /** Target divisor b: the budget is sum(C^2) / b^2 connections (b = 2 is the budget of n_div = 4). */
  b: number;
  /** The official penalize_alpha (negative penalises complexity above the budget). */
  alpha: number;
  /** The official u_regular_theta: when > 0, a band [theta*G, G] with no penalty and -alpha below it. Default 0. */
  theta?: number;
  /** Weight of the gate-order loss (the official loss_gate_alpha). Default 1. */
  gateAlpha?: number;
  /** Use the complexity term (official u_regular). Default true. */
  complexity?: boolean;
  /** Use the gate-order term (official l_gate). Default true. */
  gateOrder?: boolean;
}

export interface DPConvLosses {
  /** R: sum of 2^(K + sum s) over the searching layers (differentiable through the STE). */
  complexity: tf.Scalar;
  /** G: sum(C^2) / b^2. */
  target: number;
  /** The exponent the official rule picked for this step. */
  exponent: number;
  /** (G / R)^exponent: multiplies the task loss. */
  factor: tf.Scalar;
  /** Sum of the layers' gate-order losses (|g| from the first illegal gate on). */
  gateOrder: tf.Scalar;
  /** Searching DPConv layers that contributed. */
  layers: number;
}

/** The official exponent rule for a host value of R. */
export function complexityExponent(r: number, g: number, alpha: number, theta = 0): number {
  if (theta > 0) {
    if (r > g) return alpha;
    if (r >= g * theta) return 0;
    return -alpha;
  }
  return r <= g ? 0 : alpha;
}

/**
 * The DPConv terms of `model` for one step (call inside the gradient tape, after the forward).
 * Layers that are not searching yet (before preEpoch) contribute nothing, as in the official code.
 */
export function dpconvLosses(model: Module, opts: DPConvLossOptions): DPConvLosses {
  if (!(opts.b > 0)) throw new Error(`dpconvLosses: b must be > 0, got ${opts.b}`);
  const layers = dpconvLayers(model).filter(([, l]) => l.searching);
  return tf.tidy(() => {
    if (layers.length === 0) return { complexity: tf.scalar(0), target: 0, exponent: 0, factor: tf.scalar(1), gateOrder: tf.scalar(0), layers: 0 };
    let rHost = 0;
    let gSum = 0;
    for (const [, l] of layers) {
      const s = l.states();
      rHost += 2 ** (l.K + s.reduce((a, v) => a + v, 0));
      gSum += l.dim * l.dim;
    }
    const target = gSum / opts.b ** 2;
    const complexity = addN(layers.map(([, l]) => l.regularizer()));
    const useComplexity = opts.complexity ?? true;
    const exponent = useComplexity ? complexityExponent(rHost, target, opts.alpha, opts.theta ?? 0) : 0;
    const factor = exponent === 0 ? tf.scalar(1) : (tf.pow(tf.div(target, complexity), exponent) as tf.Scalar);
    const gateOrder = (opts.gateOrder ?? true) ? addN(layers.map(([, l]) => l.gateOrderLoss())) : tf.scalar(0);
    return { complexity, target, exponent, factor, gateOrder, layers: layers.length };
  });
}

/** task * factor + gateAlpha * gateOrder: the official total. */
export function combineDPConvLoss(task: tf.Scalar, terms: DPConvLosses, opts: Pick<DPConvLossOptions, 'gateAlpha'>): tf.Scalar {
  return tf.tidy(() => tf.add(tf.mul(task, terms.factor), tf.mul(terms.gateOrder, opts.gateAlpha ?? 1)) as tf.Scalar);
}

/**
 * The same total as named terms that add up to it, for loops that minimise a sum of terms (the
 * core Trainer): `dpconv_complexity` = task * (factor - 1), `dpconv_gate` = gateAlpha * gateOrder.
 * Disposes the DPConvLosses it computes.
 */
export function dpconvLossTerms(task: tf.Scalar, model: Module, opts: DPConvLossOptions): Record<string, tf.Scalar> {
  const terms = dpconvLosses(model, opts);
  const out = tf.tidy(() => ({
    dpconv_complexity: tf.mul(task, tf.sub(terms.factor, 1)) as tf.Scalar,
    dpconv_gate: tf.mul(terms.gateOrder, opts.gateAlpha ?? 1) as tf.Scalar,
  }));
  tf.dispose([terms.complexity, terms.factor, terms.gateOrder]);
  return out;
}
