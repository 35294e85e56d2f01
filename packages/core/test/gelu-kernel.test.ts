import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gelu, setupBackend, tf } from '../src/index.js';
import { geluComposite } from '../src/nn/activation.js';
import { GELU_GRAD_KERNEL, GELU_KERNEL, hasFusedGelu } from '../src/nn/gelu-kernels.js';
import { allowWasmSimdKernels } from '../src/runtime/wasm-kernels.js';

// The fused GELU kernels against the composite x * 0.5 * (1 + erf(x / sqrt 2)) they replace.
// Tolerances: 2e-6 absolute on [-10, 10] (a few float32 ulps of values up to 10; both use the
// Abramowitz & Stegun erf, |error| <= 1.5e-7), 1e-6 relative beyond; NaN exactly where the
// composite gives NaN.

function inputs(): Float32Array {
  const grid = Array.from({ length: 20001 }, (_, i) => -10 + i / 1000);
  const special = [0, -0, 1e-30, -1e-30, 1e-7, -1e-7, 1.5e-45, 0.5, -0.5, 3, -3, 13, -13, 14, -14, 50, -50, 1e30, -1e30, 3e38, -3e38];
  const odd = [NaN, Infinity, -Infinity];
  // 20001 + 21 + 3 = 20025 values: not a multiple of 4, so the scalar tail runs too.
  return new Float32Array([...grid, ...special, ...odd]);
}

function expectClose(got: Float32Array, want: Float32Array, xs: Float32Array, what: string): void {
  let worst = 0;
  for (let i = 0; i < xs.length; i++) {
    const [g, w, x] = [got[i]!, want[i]!, xs[i]!];
    if (Number.isNaN(w) || Number.isNaN(g)) {
      expect(Number.isNaN(g), `${what} at x=${x}: got ${g}, composite ${w}`).toBe(Number.isNaN(w));
      continue;
    }
    if (!Number.isFinite(w)) {
      expect(g, `${what} at x=${x}`).toBe(w);
      continue;
    }
    const tol = Math.abs(x) <= 10 ? 2e-6 : 1e-6 * Math.abs(w) + 1e-30;
    const err = Math.abs(g - w);
    if (err > tol) expect.fail(`${what} at x=${x}: got ${g}, composite ${w} (|diff| ${err} > ${tol})`);
    if (Math.abs(x) <= 10) worst = Math.max(worst, err);
  }
  // The two agree far better than the tolerance on the grid: a loose bound that still fails if
  // one of them drifts to the tanh approximation (~1e-3 off).
  expect(worst).toBeLessThan(2e-6);
}

const cases: Array<[string, 'wasm' | 'cpu', boolean]> = [
  ['wasm, SIMD module', 'wasm', true],
  ['wasm, JavaScript fallback', 'wasm', false],
  ['cpu', 'cpu', true],
];

/** The fused kernel called directly (gelu() may prefer the composite: the wasm fallback). */
const fused = (x: tf.Tensor): tf.Tensor => tf.engine().runKernel(GELU_KERNEL, { x }) as tf.Tensor;

describe.each(cases)('fused GELU (%s) matches the composite', (_label, backend, simd) => {
  beforeAll(async () => {
    await setupBackend(backend);
    allowWasmSimdKernels(simd);
  });
  afterAll(() => allowWasmSimdKernels(true));

  const used = simd;
  it(used ? 'gelu() runs the fused kernels forward and backward (no Erf)' : 'gelu() keeps the composite (the JavaScript loops are slower than wasm\'s Erf)', async () => {
    expect(hasFusedGelu()).toBe(used);
    const x = tf.tensor1d([-1, 0, 1, 2]);
    const info = await tf.profile(() => gelu(x));
    const names = info.kernels.map((k) => k.name);
    expect(names.includes(GELU_KERNEL)).toBe(used);
    expect(names.includes('Erf')).toBe(!used);
    tf.dispose(info.result as tf.Tensor);
    const g = await tf.profile(() => tf.grad((v: tf.Tensor) => tf.sum(fused(v)))(x));
    expect(g.kernels.map((k) => k.name)).toContain(GELU_GRAD_KERNEL);
    tf.dispose([x, g.result as tf.Tensor]);
  });

  it('values on [-10, 10] within 2e-6, tiny / huge / zero / NaN / Inf as the composite', () => {
    const xs = inputs();
    const x = tf.tensor1d(xs);
    const numTensors = tf.memory().numTensors;
    const ours = fused(x);
    const composite = geluComposite(x);
    expectClose(ours.dataSync() as Float32Array, composite.dataSync() as Float32Array, xs, 'gelu');
    tf.dispose([ours, composite]);
    expect(tf.memory().numTensors).toBe(numTensors);
    x.dispose();
  });

  it('gradients (dy varying) within 2e-6 of the composite, and nothing is left behind', () => {
    const xs = inputs();
    const x = tf.tensor1d(xs);
    const dy = tf.tensor1d(xs.map((_, i) => Math.cos(i * 0.1)));
    const numTensors = tf.memory().numTensors;
    const loss = (f: (v: tf.Tensor) => tf.Tensor) => (v: tf.Tensor): tf.Scalar => tf.sum(tf.mul(f(v), dy));
    const ours = tf.grad(loss(fused))(x);
    const composite = tf.grad(loss(geluComposite))(x);
    expectClose(ours.dataSync() as Float32Array, composite.dataSync() as Float32Array, xs, 'gelu grad');
    tf.dispose([ours, composite]);
    expect(tf.memory().numTensors).toBe(numTensors);
    tf.dispose([x, dy]);
  });

  it('known values: gelu(0) = 0, gelu(1) = 0.8413447, gelu(-1) = -0.1586553, gelu\'(0) = 0.5, gelu\'(1) = 1.0833155', () => {
    const x = tf.tensor1d([0, 1, -1]);
    const y = fused(x);
    expect(Array.from(y.dataSync()).map((v, i) => v - [0, 0.8413447, -0.1586553][i]!).every((d) => Math.abs(d) < 3e-7)).toBe(true);
    const g = tf.grad((v: tf.Tensor) => tf.sum(fused(v)))(x);
    const want = [0.5, 1.0833155, -0.0833155];
    Array.from(g.dataSync()).forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(3e-7));
    tf.dispose([x, y, g]);
  });

  it('4-D tensors of 1, 3, 5 and 4099 elements (vector body and scalar tail) match the composite', () => {
    for (const n of [1, 3, 5, 4099]) {
      const xs = new Float32Array(n).map((_, i) => Math.sin(i * 1.3) * 6);
      const x = tf.tensor4d(xs, [1, 1, 1, n]);
      const ours = fused(x);
      const composite = geluComposite(x);
      expect(ours.shape).toEqual([1, 1, 1, n]);
      expectClose(ours.dataSync() as Float32Array, composite.dataSync() as Float32Array, xs, `gelu n=${n}`);
      tf.dispose([x, ours, composite]);
    }
  });

  it('int32 input falls back to the composite instead of failing', () => {
    const x = tf.tensor1d([-2, 0, 2], 'int32');
    const y = gelu(x);
    expect(Array.from(y.dataSync()).map((v) => Math.round(v * 1e4) / 1e4)).toEqual([-0.0455, 0, 1.9545]);
    tf.dispose([x, y]);
  });
});
