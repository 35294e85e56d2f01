import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fusedSigmoidLossApplies, fusedSigmoidLossGrad, fusedSigmoidLossSum, setupBackend, tf, type FusedSigmoidLoss } from '../src/index.js';
import { sigmoidLossBinary } from '../src/runtime/sigmoid-loss-kernels.js';
import { allowWasmSimdKernels, wasmSimdKernelsActive } from '../src/runtime/wasm-kernels.js';

// The fused sigmoid focal / BCE kernels (ops/sigmoid-losses.ts) against float64 references
// written here. Tolerances: a loss sum within 1e-6 relative (each element's loss is within ~1e-6
// relative: exp within 2.4e-7, log1p within 3e-7, then a few float32 products; partial sums in
// float32 over 1024 elements, the rest in float64; measured <= 1.5e-7); each gradient element
// within 2e-6 relative plus 2e-8 of the largest |gradient| (measured within 1e-6 + 1e-8: the focal
// gradient of a confident negative is p^3-small, and its relative error the sum of its factors').
// The comparison with detection's tfjs composite is in detection/test/losses-fused.test.ts.

const WA = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } }).WebAssembly;

function softplus(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

/** float64 loss of one element (binary or soft t). */
function lossRef(loss: FusedSigmoidLoss, x: number, t: number): number {
  const bce = Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));
  if (loss.kind === 'bce') return bce;
  const p = 1 / (1 + Math.exp(-x));
  const pt = (1 - p) * t + p * (1 - t);
  return bce * (loss.alpha * t + (1 - loss.alpha) * (1 - t)) * pt * pt;
}

/** float64 d loss / dx for binary t, from the definition (not from the kernel's rearrangement). */
function gradRef(loss: FusedSigmoidLoss, x: number, t: number): number {
  const p = 1 / (1 + Math.exp(-x));
  const q = 1 / (1 + Math.exp(x));
  if (loss.kind === 'bce') return t === 1 ? -q : p;
  // t = 1: d/dx [alpha q^2 softplus(-x)] = alpha (q^2 (-q) + softplus(-x) 2 q (-p q))
  if (t === 1) return loss.alpha * (-q * q * q - 2 * p * q * q * softplus(-x));
  // t = 0: d/dx [(1 - alpha) p^2 softplus(x)] = (1 - alpha) (p^2 p + softplus(x) 2 p (p q))
  return (1 - loss.alpha) * (p * p * p + 2 * p * p * q * softplus(x));
}

const SPECIAL = [0, -0, 30, -30, 100, -100, 1e-3, -1e-3, 88, -88, 89, -89, 16, -16, 0.5, -0.5];

/** Deterministic logits: the special values first, then a spread over [-12, 12]. */
function logits(n: number, seed: number): Float32Array {
  let s = seed;
  const rand = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Float32Array.from({ length: n }, (_, i) => (i < SPECIAL.length ? SPECIAL[i]! : (rand() - 0.5) * 24));
}

type Weights = 'none' | 'full' | 'row';

interface Case {
  shape: [number, number];
  weights: Weights;
}

// [33, 80]: rows of 20 vectors (row weights splatted in the kernel); [37, 5]: 185 elements, a
// scalar tail, rows not a multiple of 4 (row weights broadcast first); [1, 3]: only the tail;
// [1030, 4]: several 1024-element chunks of partial sums.
const CASES: Case[] = [
  { shape: [33, 80], weights: 'row' },
  { shape: [33, 80], weights: 'none' },
  { shape: [37, 5], weights: 'row' },
  { shape: [37, 5], weights: 'full' },
  { shape: [1, 3], weights: 'none' },
  { shape: [1030, 4], weights: 'full' },
];

const LOSSES: FusedSigmoidLoss[] = [
  { kind: 'focal', alpha: 0.25, gamma: 2 },
  { kind: 'focal', alpha: 0.6, gamma: 2 },
  { kind: 'bce' },
];

function inputsFor(c: Case): { xs: Float32Array; ts: Float32Array; ws: Float32Array | null; wShape: number[] } {
  const [n, k] = c.shape;
  const xs = logits(n * k, n * 31 + k);
  // a target pattern that puts 1s and 0s on every special value
  const ts = Float32Array.from({ length: n * k }, (_, i) => ((i >> 1) % 3 === 0 ? 1 : 0));
  if (c.weights === 'none') return { xs, ts, ws: null, wShape: [] };
  // every third row ignored (weight 0), the others weighted 0.5 .. 2
  const rowWeight = (r: number): number => (r % 3 === 2 ? 0 : 0.5 + (r % 4) * 0.5);
  if (c.weights === 'row') return { xs, ts, ws: Float32Array.from({ length: n }, (_, r) => rowWeight(r)), wShape: [n, 1] };
  return { xs, ts, ws: Float32Array.from({ length: n * k }, (_, i) => rowWeight(i % 7)), wShape: [n, k] };
}

function weightOf(c: Case, ws: Float32Array | null, i: number): number {
  if (!ws) return 1;
  return c.weights === 'row' ? ws[Math.floor(i / c.shape[1])]! : ws[i]!;
}

describe('sigmoid loss kernels module', () => {
  it('validates for a plain and for a shared memory', () => {
    expect(WA.validate(sigmoidLossBinary(false))).toBe(true);
    expect(WA.validate(sigmoidLossBinary(true))).toBe(true);
  });
});

describe('fused sigmoid focal / BCE losses on wasm', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  it('run on this wasm backend (SIMD module present)', () => {
    expect(wasmSimdKernelsActive()).toBe(true);
    const x = tf.zeros([2, 4]);
    const s = fusedSigmoidLossSum(x, x, null, { kind: 'bce' });
    expect(s).toBeDefined();
    tf.dispose([x, s!]);
  });

  for (const loss of LOSSES) {
    const label = loss.kind === 'focal' ? `focal alpha ${loss.alpha}` : 'bce';
    it.each(CASES)(`${label}: sum and gradient of [$shape], weights $weights, match float64 (incl. x = 0, +-30, +-100, ignored rows)`, (c) => {
      const { xs, ts, ws, wShape } = inputsFor(c);
      const n = xs.length;
      const x = tf.tensor2d(xs, c.shape);
      const t = tf.tensor2d(ts, c.shape);
      const w = ws ? tf.tensor(ws, wShape) : null;
      const scale = tf.scalar(0.37);
      const before = tf.memory().numTensors;
      const sum = fusedSigmoidLossSum(x, t, w, loss)!;
      const grad = fusedSigmoidLossGrad(x, t, w, scale, loss)!;
      expect(sum.shape).toEqual([]);
      expect(grad.shape).toEqual(c.shape);
      let want = 0;
      for (let i = 0; i < n; i++) want += lossRef(loss, xs[i]!, ts[i]!) * weightOf(c, ws, i);
      const got = sum.dataSync()[0]!;
      expect(Math.abs(got - want), `sum ${got} vs ${want}`).toBeLessThanOrEqual(1e-6 * Math.abs(want));
      const g = grad.dataSync();
      const wantG = Array.from(xs, (xi, i) => 0.37 * gradRef(loss, xi, ts[i]!) * weightOf(c, ws, i));
      const largest = Math.max(...wantG.map(Math.abs));
      for (let i = 0; i < n; i++) {
        const tol = 2e-6 * Math.abs(wantG[i]!) + 2e-8 * largest;
        if (!(Math.abs(g[i]! - wantG[i]!) <= tol)) expect.fail(`gradient at x=${xs[i]}, t=${ts[i]}: ${g[i]} vs ${wantG[i]} (tolerance ${tol})`);
      }
      tf.dispose([sum, grad]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, t, scale]);
      if (w) w.dispose();
    });
  }

  it.each([
    [33, 80, true],
    [33, 80, false],
    [7, 8, true],
    [300, 4, true],
  ])('focal from class labels [%i, %i] (row weights: %s): sum and gradient match float64 of the one-hot', (n, k, weighted) => {
    const loss: FusedSigmoidLoss = { kind: 'focal', alpha: 0.25, gamma: 2 };
    const xs = logits(n * k, n + k);
    // background (k), an index below 0 (also background) and classes, the special rows included
    const labels = Int32Array.from({ length: n }, (_, r) => (r % 4 === 0 ? k : r % 9 === 1 ? -1 : (r * 7) % k));
    const ws = weighted ? Float32Array.from({ length: n }, (_, r) => (r % 3 === 2 ? 0 : 0.5 + (r % 4) * 0.5)) : null;
    const t = (i: number): number => (labels[Math.floor(i / k)] === i % k ? 1 : 0);
    const weight = (i: number): number => (ws ? ws[Math.floor(i / k)]! : 1);
    const [x, lab, scale] = [tf.tensor2d(xs, [n, k]), tf.tensor1d(labels, 'int32'), tf.scalar(0.37)];
    const w = ws ? tf.tensor2d(ws, [n, 1]) : null;
    const before = tf.memory().numTensors;
    const sum = fusedSigmoidLossSum(x, { labels: lab }, w, loss)!;
    const grad = fusedSigmoidLossGrad(x, { labels: lab }, w, scale, loss)!;
    let want = 0;
    for (let i = 0; i < n * k; i++) want += lossRef(loss, xs[i]!, t(i)) * weight(i);
    const got = sum.dataSync()[0]!;
    expect(Math.abs(got - want), `sum ${got} vs ${want}`).toBeLessThanOrEqual(1e-6 * Math.abs(want));
    const g = grad.dataSync();
    const wantG = Array.from(xs, (xi, i) => 0.37 * gradRef(loss, xi, t(i)) * weight(i));
    const largest = Math.max(...wantG.map(Math.abs));
    for (let i = 0; i < n * k; i++) {
      const tol = 2e-6 * Math.abs(wantG[i]!) + 2e-8 * largest;
      if (!(Math.abs(g[i]! - wantG[i]!) <= tol)) expect.fail(`gradient at x=${xs[i]}, t=${t(i)}: ${g[i]} vs ${wantG[i]} (tolerance ${tol})`);
    }
    tf.dispose([sum, grad]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, lab, scale, ...(w ? [w] : [])]);
  });

  it('the gradient kernel is the derivative of the sum kernel (central differences in float32)', () => {
    const xs = [-4, -1.3, -0.2, 0, 0.3, 1.1, 2.5, 6];
    for (const loss of LOSSES) {
      for (const target of [0, 1]) {
        const t = tf.fill([xs.length], target);
        const x = tf.tensor1d(xs);
        const g = fusedSigmoidLossGrad(x, t, null, tf.scalar(1), loss)!.dataSync();
        const h = 1e-2;
        xs.forEach((xi, i) => {
          const at = (v: number): number => {
            const shifted = xs.slice();
            shifted[i] = v;
            return tf.tidy(() => fusedSigmoidLossSum(tf.tensor1d(shifted), t, null, loss)!.dataSync()[0]!);
          };
          const numeric = (at(xi + h) - at(xi - h)) / (2 * h);
          // O(h^2) truncation (the losses' third derivatives are below ~1) plus float32 sums
          expect(Math.abs(g[i]! - numeric), `${loss.kind} t=${target} x=${xi}: ${g[i]} vs ${numeric}`).toBeLessThan(2e-4 + 1e-3 * Math.abs(numeric));
        });
        tf.dispose([t, x]);
      }
    }
  });

  it('the sum is at least as accurate as tf.sum over the composite\'s float32 terms (1.3M elements)', () => {
    const [n, k] = [16384, 80];
    const xs = logits(n * k, 5);
    const ts = Float32Array.from({ length: n * k }, (_, i) => (i % 83 === 0 ? 1 : 0));
    const loss: FusedSigmoidLoss = { kind: 'focal', alpha: 0.25, gamma: 2 };
    let want = 0;
    const terms = new Float32Array(n * k);
    for (let i = 0; i < n * k; i++) {
      terms[i] = lossRef(loss, xs[i]!, ts[i]!);
      want += lossRef(loss, xs[i]!, ts[i]!);
    }
    const [x, t, termsT] = [tf.tensor2d(xs, [n, k]), tf.tensor2d(ts, [n, k]), tf.tensor1d(terms)];
    const fused = tf.tidy(() => fusedSigmoidLossSum(x, t, null, loss)!.dataSync()[0]!);
    // tf.sum of terms already rounded to float32: only the summation's error
    const tfSum = tf.tidy(() => tf.sum(termsT).dataSync()[0]!);
    const errFused = Math.abs(fused - want) / want;
    const errTfSum = Math.abs(tfSum - want) / want;
    expect(errFused).toBeLessThan(2e-6);
    expect(errFused).toBeLessThanOrEqual(Math.max(errTfSum, 2e-7));
    tf.dispose([x, t, termsT]);
  });

  it('answer undefined where the composite must run: gamma != 2, other weight shapes, targets of another shape, no elements, int32', () => {
    const x = tf.zeros([4, 8]);
    const before = tf.memory().numTensors;
    const focal3: FusedSigmoidLoss = { kind: 'focal', alpha: 0.25, gamma: 3 };
    expect(fusedSigmoidLossApplies(x, x, null, { kind: 'focal', alpha: 0.25, gamma: 2 })).toBe(true);
    expect(fusedSigmoidLossApplies(x, x, null, focal3)).toBe(false);
    expect(fusedSigmoidLossSum(x, x, null, focal3)).toBeUndefined();
    expect(fusedSigmoidLossGrad(x, x, null, tf.scalar(1), focal3)).toBeUndefined();
    const bce: FusedSigmoidLoss = { kind: 'bce' };
    const colWeights = tf.ones([1, 8]);
    expect(fusedSigmoidLossApplies(x, x, colWeights, bce)).toBe(false);
    expect(fusedSigmoidLossSum(x, x, colWeights, bce)).toBeUndefined();
    const otherTargets = tf.zeros([8, 4]);
    expect(fusedSigmoidLossSum(x, otherTargets, null, bce)).toBeUndefined();
    const empty = tf.zeros([0, 8]);
    expect(fusedSigmoidLossSum(empty, empty, null, bce)).toBeUndefined();
    empty.dispose();
    // labels: only for the focal loss, rows a multiple of 4 long, one label per row, no full weights
    const labels = tf.zeros([4], 'int32');
    expect(fusedSigmoidLossApplies(x, { labels }, null, { kind: 'focal', alpha: 0.25, gamma: 2 })).toBe(true);
    expect(fusedSigmoidLossApplies(x, { labels }, null, bce)).toBe(false);
    expect(fusedSigmoidLossApplies(x, { labels }, x, { kind: 'focal', alpha: 0.25, gamma: 2 })).toBe(false);
    const odd = tf.zeros([4, 6]);
    expect(fusedSigmoidLossApplies(odd, { labels }, null, { kind: 'focal', alpha: 0.25, gamma: 2 })).toBe(false);
    tf.dispose([labels, odd]);
    const ints = tf.zeros([4, 8], 'int32');
    expect(fusedSigmoidLossSum(ints, x, null, bce)).toBeUndefined();
    tf.dispose([colWeights, otherTargets, ints]);
    // (the scalar made for the gradient call above is the one tensor left)
    expect(tf.memory().numTensors).toBe(before + 1);
    x.dispose();
  });

  describe('without the SIMD module', () => {
    beforeAll(() => allowWasmSimdKernels(false));
    afterAll(() => allowWasmSimdKernels(true));
    it('answer undefined (the callers keep their composite)', () => {
      const x = tf.zeros([4, 8]);
      expect(fusedSigmoidLossApplies(x, x, null, { kind: 'bce' })).toBe(false);
      expect(fusedSigmoidLossSum(x, x, null, { kind: 'bce' })).toBeUndefined();
      x.dispose();
    });
  });
});

describe('fused sigmoid losses on the cpu backend', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });
  afterAll(async () => {
    await setupBackend('wasm');
  });
  it('answer undefined (not wasm: the composite runs)', () => {
    const x = tf.zeros([4, 8]);
    expect(fusedSigmoidLossSum(x, x, null, { kind: 'focal', alpha: 0.25, gamma: 2 })).toBeUndefined();
    x.dispose();
  });
});
