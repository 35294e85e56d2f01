// BatchNorm2d (training) and GELU write their gradients out under a tape; here against autodiff of
// the same forward formulas.
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm2d, gelu, setupBackend, tf } from '../src/index.js';
import { geluComposite } from '../src/nn/activation.js';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe.each(['cpu', 'wasm'] as const)('written-out gradients on %s', (backend) => {
  beforeAll(async () => {
    await setupBackend(backend);
  });

  it('BatchNorm2d in training: same output, running statistics and gradients (x, weight, bias) as autodiff', () => {
    const before = tf.memory().numTensors;
    const x = tf.randomNormal([2, 5, 4, 3], 1, 2, 'float32', 3);
    const probe = tf.randomNormal([2, 5, 4, 3], 0, 1, 'float32', 4);
    const bn = new BatchNorm2d(3);
    tf.tidy(() => {
      bn.weight.assign(tf.tensor1d([0.5, 2, -1]));
      bn.bias.assign(tf.tensor1d([0.1, 0, -0.3]));
    });
    bn.train();
    const ref = (v: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Scalar => {
      const { mean, variance } = tf.moments(v, [0, 1, 2]);
      const y = tf.add(tf.mul(tf.mul(tf.sub(v, mean), tf.rsqrt(tf.add(variance, bn.eps))), w), b);
      return tf.sum(tf.mul(tf.square(y), probe));
    };
    const [rx, rw, rb] = tf.grads(ref)([x, bn.weight, bn.bias]);
    const refOut = tf.tidy(() => ref(x, bn.weight, bn.bias));
    const { value, grads } = tf.tidy(() => {
      const g = tf.valueAndGrads((v: tf.Tensor) => tf.sum(tf.mul(tf.square(bn.forward(v)), probe)) as tf.Scalar)([x]);
      return { value: g.value, grads: g.grads };
    });
    const vg = tf.variableGrads(() => tf.sum(tf.mul(tf.square(bn.forward(x)), probe)) as tf.Scalar, [bn.weight, bn.bias]);
    expect(Math.abs(value.dataSync()[0]! - refOut.dataSync()[0]!)).toBeLessThan(1e-3);
    expect(maxAbsDiff(grads[0]!.dataSync(), rx!.dataSync())).toBeLessThan(1e-3);
    expect(maxAbsDiff(vg.grads[bn.weight.name]!.dataSync(), rw!.dataSync())).toBeLessThan(1e-3);
    expect(maxAbsDiff(vg.grads[bn.bias.name]!.dataSync(), rb!.dataSync())).toBeLessThan(1e-3);
    // two training passes moved the running statistics twice, from the same batch
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    const expectMean = tf.mul(mean, 1 - 0.9 ** 2);
    expect(maxAbsDiff(bn.runningMean.dataSync(), expectMean.dataSync())).toBeLessThan(1e-5);
    tf.dispose([x, probe, rx!, rw!, rb!, refOut, value, ...grads, vg.value, ...Object.values(vg.grads), mean, variance, expectMean]);
    bn.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    ['gelu() (the fused kernels here)', gelu],
    ['the composite (other backends)', geluComposite],
  ])('GELU, %s: same value and gradient as autodiff of x * Phi(x)', (_name, f) => {
    const x = tf.linspace(-6, 6, 97);
    const ref = (v: tf.Tensor) => tf.sum(tf.mul(tf.mul(v, 0.5), tf.add(tf.erf(tf.mul(v, Math.SQRT1_2)), 1)));
    const ours = (v: tf.Tensor) => tf.sum(f(v));
    const [gr, go] = [tf.grad(ref)(x), tf.grad(ours)(x)];
    expect(Math.abs(ours(x).dataSync()[0]! - ref(x).dataSync()[0]!)).toBeLessThan(1e-4);
    expect(maxAbsDiff(go.dataSync(), gr.dataSync())).toBeLessThan(1e-5);
    tf.dispose([x, gr, go]);
  });
});
