import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tf } from '@partialnet/core';
import { bceWithLogits, bceWithLogitsLoss, focalGradComposite, focalLossSumComposite, sigmoidFocalLoss, sigmoidFocalLossByLabels } from '../src/losses.js';

// The sigmoid focal loss (gamma = 2) and the BCE with logits loss on wasm run core's fused
// kernels; here they are held to the tfjs composites they replaced, run explicitly
// (focalLossSumComposite / focalGradComposite, bceWithLogits), and the other paths are checked to
// be the composite still. Core's test/sigmoid-losses.test.ts holds the
// kernels to float64.
//
// Tolerances against the composite: the value within 3e-5 relative (the composite's tf.sum adds
// all terms in one float32 accumulator: measured 3.5e-6 off the fused sum on 24k terms, and the
// fused sum is within 1.5e-7 of float64 in core's test); each gradient element within 1e-5
// relative plus 1e-7 of the largest |gradient| (measured within 1e-6 + 1e-8).

const SPECIAL = [0, 30, -30, 100, -100, 1e-3, -1e-3, 16, -16];
const FUSED = ['PartialnetSigmoidLossSum', 'PartialnetSigmoidLossGrad'];

function problem(n: number, k: number, seed: number) {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const x = Float32Array.from({ length: n * k }, (_, i) => (i < SPECIAL.length * k ? SPECIAL[Math.floor(i / k)]! : (rand() - 0.5) * 24));
  // labels in [0, k]: k is background; every special row has a positive at column 0 or is background
  const labels = Int32Array.from({ length: n }, (_, r) => (r < SPECIAL.length ? (r % 2 === 0 ? 0 : k) : Math.floor(rand() * (k + 1))));
  const weights = Float32Array.from({ length: n }, (_, r) => (r % 5 === 3 ? 0 : 1)); // every fifth row ignored
  const onehot = new Float32Array(n * k);
  labels.forEach((c, i) => c < k && (onehot[i * k + c] = 1));
  return { x, labels, weights, onehot };
}

function expectGradClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length).toBe(want.length);
  let largest = 0;
  for (let i = 0; i < want.length; i++) largest = Math.max(largest, Math.abs(want[i]!));
  for (let i = 0; i < want.length; i++) {
    const tol = 1e-5 * Math.abs(want[i]!) + 1e-7 * largest;
    if (!(Math.abs(got[i]! - want[i]!) <= tol)) expect.fail(`${what} [${i}]: ${got[i]} vs composite ${want[i]} (tolerance ${tol})`);
  }
}

describe('sigmoid focal loss on wasm: fused kernels against the composite', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  it.each([
    [300, 80, 'row weights [N, 1]'],
    [37, 5, 'row weights on rows not a multiple of 4 long'],
    [41, 7, 'full weights [N, K]'],
  ])('sigmoidFocalLoss [%i, %i], %s: value and gradient match the composite', (n, k, label) => {
    const p = problem(n, k, n + k);
    const avg = 17;
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.tensor2d(p.x, [n, k]);
      const t = tf.tensor2d(p.onehot, [n, k]);
      const w = label.startsWith('full') ? tf.tensor2d(p.x.map((_, i) => p.weights[Math.floor(i / k)]! * (1 + (i % 3))), [n, k]) : tf.tensor2d(p.weights, [n, 1]);
      const value = sigmoidFocalLoss(x, t, w, avg).dataSync()[0]!;
      const want = focalLossSumComposite(x, t, w, 0.25, 2).dataSync()[0]! / avg;
      expect(Math.abs(value - want)).toBeLessThanOrEqual(3e-5 * Math.abs(want));
      const grad = tf.grad((v: tf.Tensor) => sigmoidFocalLoss(v, t, w, avg))(x).dataSync();
      const wantGrad = tf.mul(focalGradComposite(x, t, w, 0.25, 2), 1 / avg).dataSync();
      expectGradClose(grad, wantGrad, 'gradient');
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('sigmoidFocalLossByLabels (RetinaNet\'s call) runs the fused kernels from the labels (no Softplus, no pieces sliced and concatenated) and matches the composite', async () => {
    const [n, k, avg] = [300, 80, 23];
    const p = problem(n, k, 3);
    const x = tf.tensor2d(p.x, [n, k]);
    const before = tf.memory().numTensors;
    const loss = (v: tf.Tensor) => sigmoidFocalLossByLabels(v as tf.Tensor2D, p.labels, p.weights, avg, {}, 64);
    const profile = await tf.profile(() => tf.grad(loss)(x));
    const names = new Set(profile.kernels.map((kk) => kk.name));
    for (const name of FUSED) expect(names.has(name), name).toBe(true);
    for (const name of ['Softplus', 'Slice', 'Concat']) expect(names.has(name), name).toBe(false);
    const grad = (profile.result as tf.Tensor).dataSync();
    const value = tf.tidy(() => loss(x).dataSync()[0]!);
    tf.dispose(profile.result as tf.Tensor);
    expect(tf.memory().numTensors).toBe(before);
    tf.tidy(() => {
      const t = tf.tensor2d(p.onehot, [n, k]);
      const w = tf.tensor2d(p.weights, [n, 1]);
      const want = focalLossSumComposite(x, t, w, 0.25, 2).dataSync()[0]! / avg;
      expect(Math.abs(value - want)).toBeLessThanOrEqual(3e-5 * Math.abs(want));
      expectGradClose(grad, tf.mul(focalGradComposite(x, t, w, 0.25, 2), 1 / avg).dataSync(), 'gradient by labels');
    });
    x.dispose();
  });

  it('gamma != 2 keeps the composite (no fused kernel) with the same value', async () => {
    const p = problem(20, 8, 5);
    const [x, t] = [tf.tensor2d(p.x, [20, 8]), tf.tensor2d(p.onehot, [20, 8])];
    const profile = await tf.profile(() => sigmoidFocalLoss(x, t, null, 1, { gamma: 1.5 }));
    expect(profile.kernels.some((kk) => FUSED.includes(kk.name))).toBe(false);
    const want = tf.tidy(() => focalLossSumComposite(x, t, null, 0.25, 1.5).dataSync()[0]!);
    expect((profile.result as tf.Tensor).dataSync()[0]).toBe(want);
    tf.dispose([x, t, profile.result as tf.Tensor]);
  });
});

/** The RPN's and the mask head's BCE as they were computed before bceWithLogitsLoss. */
function bceComposite(x: tf.Tensor, t: tf.Tensor, w: tf.Tensor | null, avg: number | 'mean'): tf.Scalar {
  const loss = w ? tf.mul(bceWithLogits(x, t), w) : bceWithLogits(x, t);
  return (avg === 'mean' ? tf.mean(loss) : tf.div(tf.sum(loss), avg)) as tf.Scalar;
}

function bceProblem(shape: number[], seed: number) {
  const n = shape.reduce((a, b) => a * b, 1);
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const x = Float32Array.from({ length: n }, (_, i) => (i < SPECIAL.length ? SPECIAL[i]! : (rand() - 0.5) * 24));
  const t = Float32Array.from({ length: n }, (_, i) => ((i >> 1) % 2 === 0 ? 1 : 0));
  const w = Float32Array.from({ length: n }, (_, i) => (i % 5 === 3 ? 0 : 1));
  return { x, t, w };
}

describe('BCE with logits loss (RPN, mask head) on wasm: fused kernels against the composite', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  it.each([
    [[1234, 1], 'weights [N, 1] (the RPN: labels 1 / 0, ignored anchors weight 0), sum / avg', 37],
    [[6, 28, 28], 'no weights (the mask head), mean', 'mean'],
  ] as [number[], string, number | 'mean'][])('%j, %s: runs the fused kernels, value and gradient match the composite', async (shape, label, avg) => {
    const p = bceProblem(shape, shape[0]!);
    const [x, t] = [tf.tensor(p.x, shape), tf.tensor(p.t, shape)];
    const w = label.startsWith('weights') ? tf.tensor(p.w, shape) : null;
    const before = tf.memory().numTensors;
    const profile = await tf.profile(() => tf.grad((v: tf.Tensor) => bceWithLogitsLoss(v, t, w, avg))(x));
    const names = new Set(profile.kernels.map((kk) => kk.name));
    for (const name of FUSED) expect(names.has(name), name).toBe(true);
    expect(names.has('Softplus')).toBe(false);
    const grad = (profile.result as tf.Tensor).dataSync();
    tf.dispose(profile.result as tf.Tensor);
    const value = tf.tidy(() => bceWithLogitsLoss(x, t, w, avg).dataSync()[0]!);
    expect(tf.memory().numTensors).toBe(before);
    tf.tidy(() => {
      const want = bceComposite(x, t, w, avg).dataSync()[0]!;
      expect(Math.abs(value - want)).toBeLessThanOrEqual(3e-5 * Math.abs(want));
      expectGradClose(grad, tf.grad((v: tf.Tensor) => bceComposite(v, t, w, avg))(x).dataSync(), 'BCE gradient');
    });
    tf.dispose([x, t, ...(w ? [w] : [])]);
  });
});

describe('sigmoid focal loss on the cpu backend', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });
  afterAll(async () => {
    await setupBackend('wasm');
  });

  it('is the composite, bit for bit, forward and backward', async () => {
    const [n, k] = [30, 8];
    const p = problem(n, k, 9);
    tf.tidy(() => {
      const x = tf.tensor2d(p.x, [n, k]);
      const t = tf.tensor2d(p.onehot, [n, k]);
      const w = tf.tensor2d(p.weights, [n, 1]);
      expect(sigmoidFocalLoss(x, t, w, 3).dataSync()[0]).toBe(tf.div(focalLossSumComposite(x, t, w, 0.25, 2), 3).dataSync()[0]);
      const grad = tf.grad((v: tf.Tensor) => sigmoidFocalLoss(v, t, w, 3))(x).dataSync();
      expect(Array.from(grad)).toEqual(Array.from(tf.mul(focalGradComposite(x, t, w, 0.25, 2), tf.div(tf.scalar(1), 3)).dataSync()));
    });
    const x = tf.tensor2d(p.x, [n, k]);
    const profile = await tf.profile(() => sigmoidFocalLossByLabels(x, p.labels, p.weights, 3));
    expect(profile.kernels.some((kk) => FUSED.includes(kk.name))).toBe(false);
    expect(profile.kernels.some((kk) => kk.name === 'Softplus')).toBe(true);
    tf.dispose([x, profile.result as tf.Tensor]);
  });

  it('BCE with logits loss is the composite, bit for bit, forward and backward', () => {
    const p = bceProblem([50, 1], 4);
    tf.tidy(() => {
      const [x, t, w] = [tf.tensor2d(p.x, [50, 1]), tf.tensor2d(p.t, [50, 1]), tf.tensor2d(p.w, [50, 1])];
      for (const avg of [7, 'mean'] as const) {
        expect(bceWithLogitsLoss(x, t, w, avg).dataSync()[0]).toBe(bceComposite(x, t, w, avg).dataSync()[0]);
        const grad = tf.grad((v: tf.Tensor) => bceWithLogitsLoss(v, t, w, avg))(x).dataSync();
        expect(Array.from(grad)).toEqual(Array.from(tf.grad((v: tf.Tensor) => bceComposite(v, t, w, avg))(x).dataSync()));
      }
    });
  });
});
