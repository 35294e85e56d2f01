import { tf } from '../tf.js';

/**
 * Exact GELU, x Phi(x), as loops over arrays: the cpu backend's fused kernels, and the wasm
 * backend's when its SIMD module cannot be instantiated (and for the last < 4 elements).
 *
 * Phi(x) = 0.5 (1 + erf(x / sqrt 2)) with erf from Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7),
 * the approximation tfjs's own Erf kernels use, so the fused result matches the composite
 * x * 0.5 * (1 + erf(x / sqrt 2)) to float32 rounding. For x < 0 it is evaluated as q / 2 with
 * q = erfc(|x| / sqrt 2) (no cancellation in the tail).
 */
export const GELU_ERF = {
  p: tf.backend_util.ERF_P,
  a: [tf.backend_util.ERF_A1, tf.backend_util.ERF_A2, tf.backend_util.ERF_A3, tf.backend_util.ERF_A4, tf.backend_util.ERF_A5] as const,
};

/** 1 / sqrt(2 pi): phi(x) = exp(-x^2 / 2) / sqrt(2 pi). */
export const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Below this exp(w) is no normal float32 (exp(-87) = 1.6e-38); it is taken as 0. */
export const GELU_EXP_MIN = -87;

const [A1, A2, A3, A4, A5] = GELU_ERF.a;
const P = GELU_ERF.p;

// The two loops repeat the Phi evaluation inline: a helper returning (Phi, density) would allocate
// per element in the fallback's hot loop.

/** y[i] = gelu(x[i]) for i in [from, to), computed in float64 and rounded on store. */
export function geluLoop(x: Float32Array, y: Float32Array, from = 0, to = x.length): void {
  for (let i = from; i < to; i++) {
    const v = x[i]!;
    const z = Math.abs(v) * Math.SQRT1_2;
    const t = 1 / (1 + P * z);
    const w = -z * z;
    const e = w >= GELU_EXP_MIN ? Math.exp(w) : 0;
    const h = 0.5 * t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5)))) * e;
    y[i] = v * (v >= 0 ? 1 - h : h);
  }
}

/** dx[i] = dy[i] gelu'(x[i]) = dy[i] (Phi(x) + x phi(x)) for i in [from, to). */
export function geluGradLoop(x: Float32Array, dy: Float32Array, dx: Float32Array, from = 0, to = x.length): void {
  for (let i = from; i < to; i++) {
    const v = x[i]!;
    const z = Math.abs(v) * Math.SQRT1_2;
    const t = 1 / (1 + P * z);
    const w = -z * z;
    const e = w >= GELU_EXP_MIN ? Math.exp(w) : 0;
    const h = 0.5 * t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5)))) * e;
    dx[i] = dy[i]! * ((v >= 0 ? 1 - h : h) + v * e * INV_SQRT_2PI);
  }
}
