import { beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tf } from '@partialnet/core';
import { bceWithLogits, l1Loss, sigmoidFocalLoss, sigmoidFocalLossByLabels, weightedCrossEntropy } from '../src/layers.js';
import { totalLoss } from '../src/index.js';

describe('losses', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  it('sigmoid focal loss on hand-made inputs', () => {
    const before = tf.memory().numTensors;
    // x = 0 -> p = 0.5, pt = 0.5, BCE = log 2.
    const loss = (x: number[], t: number[], w: number[] | null, avg: number) =>
      tf.tidy(() => sigmoidFocalLoss(tf.tensor2d(x, [x.length, 1]), tf.tensor2d(t, [t.length, 1]), w && tf.tensor2d(w, [w.length, 1]), avg).dataSync()[0]!);
    expect(loss([0], [1], null, 1)).toBeCloseTo(0.25 * 0.25 * Math.log(2), 6);
    expect(loss([0], [0], null, 1)).toBeCloseTo(0.75 * 0.25 * Math.log(2), 6);
    // A confident right answer costs almost nothing; a confident wrong one, BCE * alpha.
    const p = 1 / (1 + Math.exp(-3));
    expect(loss([3], [1], null, 1)).toBeCloseTo(0.25 * (1 - p) ** 2 * -Math.log(p), 6);
    expect(loss([-3, 3], [1, 1], [1, 0], 2)).toBeCloseTo((0.25 * p ** 2 * -Math.log(1 - p)) / 2, 6);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('focal loss gradient matches numeric differentiation', () => {
    const xs = [-2, -0.3, 0.4, 1.7];
    const ts = [1, 0, 1, 0];
    const f = (x: tf.Tensor) => sigmoidFocalLoss(x, tf.tensor1d(ts), null, 3);
    const g = tf.tidy(() => tf.grad(f)(tf.tensor1d(xs)).dataSync());
    const val = (v: number[]) => tf.tidy(() => f(tf.tensor1d(v)).dataSync()[0]!);
    xs.forEach((_, i) => {
      const e = 1e-2;
      const plus = xs.slice();
      const minus = xs.slice();
      plus[i]! += e;
      minus[i]! -= e;
      expect(g[i]!).toBeCloseTo((val(plus) - val(minus)) / (2 * e), 3);
    });
  });

  it('focal loss from host labels, in pieces of rows, equals the one-hot focal loss in value and gradient', () => {
    const n = 37;
    const k = 5;
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const x = Float32Array.from({ length: n * k }, () => (rand() - 0.5) * 8);
    const labels = Int32Array.from({ length: n }, () => Math.floor(rand() * (k + 1))); // k: background
    const weights = Float32Array.from({ length: n }, () => (rand() < 0.2 ? 0 : 1));
    const onehot = new Float32Array(n * k);
    labels.forEach((c, i) => c < k && (onehot[i * k + c] = 1));
    const before = tf.memory().numTensors;
    const ref = (v: tf.Tensor) => sigmoidFocalLoss(v, tf.tensor2d(onehot, [n, k]), tf.tensor2d(weights, [n, 1]), 6);
    const ours = (v: tf.Tensor) => sigmoidFocalLossByLabels(v as tf.Tensor2D, labels, weights, 6, {}, 8);
    const [refVal, refGrad] = tf.tidy(() => [ref(tf.tensor2d(x, [n, k])).dataSync()[0]!, tf.grad(ref)(tf.tensor2d(x, [n, k])).dataSync()] as const);
    const [val, grad] = tf.tidy(() => [ours(tf.tensor2d(x, [n, k])).dataSync()[0]!, tf.grad(ours)(tf.tensor2d(x, [n, k])).dataSync()] as const);
    expect(val).toBeCloseTo(refVal, 5);
    expect(grad.length).toBe(refGrad.length);
    for (let i = 0; i < grad.length; i++) expect(Math.abs(grad[i]! - refGrad[i]!)).toBeLessThan(1e-6);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('BCE with logits is stable for large logits', () => {
    const v = tf.tidy(() => bceWithLogits(tf.tensor1d([100, -100, 0]), tf.tensor1d([0, 0, 1])).dataSync());
    expect(v[0]).toBeCloseTo(100, 4);
    expect(v[1]).toBeCloseTo(0, 6);
    expect(v[2]).toBeCloseTo(Math.log(2), 6);
  });

  it('L1 and weighted cross-entropy with avg factors', () => {
    const l1 = tf.tidy(() => l1Loss(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([0, 0, 0, 0], [2, 2]), tf.tensor2d([1, 0], [2, 1]), 4).dataSync()[0]!);
    expect(l1).toBeCloseTo(3 / 4, 6);
    const ce = tf.tidy(() => weightedCrossEntropy(tf.tensor2d([1, 2, 3, 0, 0, 0], [2, 3]), Int32Array.from([2, 0]), null, 2).dataSync()[0]!);
    const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    expect(ce).toBeCloseTo((lse - 3 + Math.log(3)) / 2, 5);
    const weighted = tf.tidy(() => weightedCrossEntropy(tf.tensor2d([1, 2, 3, 0, 0, 0], [2, 3]), Int32Array.from([2, 0]), Float32Array.from([0, 1]), 1).dataSync()[0]!);
    expect(weighted).toBeCloseTo(Math.log(3), 5);
    const total = tf.tidy(() => totalLoss({ a: tf.scalar(1), b: tf.scalar(2.5) }).dataSync()[0]!);
    expect(total).toBe(3.5);
  });

  it('L1 gives a prediction equal to its target a zero gradient, as torch.abs does (tf.abs: -1)', () => {
    const target = tf.tensor2d([0.5, 0, -1, 2], [2, 2]);
    const g = tf.grad((p: tf.Tensor) => l1Loss(p, target, null, 1))(tf.tensor2d([0.5, 1, -1, 1], [2, 2]));
    expect(Array.from(g.dataSync())).toEqual([0, 1, 0, -1]);
    tf.dispose([target, g]);
  });

  it('BCE with logits has the gradient sigmoid(x) - t, also at x = 0', () => {
    // relu'(0) = 0 and tf.abs'(0) = -1 together give sigmoid(0) - t there: keep tf.abs in it.
    const t = tf.tensor1d([1, 0, 1, 0]);
    const g = tf.grad((x: tf.Tensor) => tf.sum(bceWithLogits(x, t)))(tf.tensor1d([0, 0, 2, -3]));
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    const expected = [sig(0) - 1, sig(0), sig(2) - 1, sig(-3)];
    Array.from(g.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
    tf.dispose([t, g]);
  });
});
