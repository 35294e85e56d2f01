import { describe, expect, it } from 'vitest';
import { setupBackend, tf, type BackendName } from '../src/index.js';
import { channelAffine, channelSum, spatialSum } from '../src/ops/channel-ops.js';

const values = (n: number, seed: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * 3 + 0.5);
const maxAbs = async (a: tf.Tensor, b: tf.Tensor): Promise<number> => {
  const [x, y] = [await a.data(), await b.data()];
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
};

describe.each(['wasm', 'cpu'] as BackendName[])('channel ops on %s', (backend) => {
  it('channelSum and spatialSum equal tf.sum over the same axes (1e-5 relative), with gradients, leaving no tensor behind', async () => {
    await setupBackend(backend);
    const x = tf.tensor4d(values(3 * 5 * 7 * 6, 1), [3, 5, 7, 6]);
    const before = tf.memory().numTensors;
    const pairs: [tf.Tensor, tf.Tensor][] = [
      [channelSum(x), tf.sum(x, [0, 1, 2])],
      [tf.tidy(() => channelSum(x.reshape([105, 6]))), tf.sum(x, [0, 1, 2])],
      [spatialSum(x), tf.sum(x, [1, 2])],
    ];
    for (const [a, b] of pairs) {
      expect(a.shape).toEqual(b.shape);
      expect(await maxAbs(a, b)).toBeLessThan(1e-5 * 105 * 4);
    }
    const w = tf.tensor4d(values(x.size, 2), x.shape);
    const u2 = tf.tensor2d(values(18, 3), [3, 6]);
    const u1 = tf.tensor1d(values(6, 4));
    const grad = (f: (v: tf.Tensor) => tf.Tensor): tf.Tensor => tf.tidy(() => tf.grad(f)(x));
    const g1 = grad((v) => tf.sum(tf.mul(spatialSum(v as tf.Tensor4D), u2)));
    const g2 = grad((v) => tf.sum(tf.mul(tf.sum(v, [1, 2]), u2)));
    expect(await maxAbs(g1, g2)).toBeLessThan(1e-6);
    const g3 = grad((v) => tf.sum(tf.mul(channelSum(tf.mul(v, w)), u1)));
    const g4 = grad((v) => tf.sum(tf.mul(tf.sum(tf.mul(v, w), [0, 1, 2]), u1)));
    expect(await maxAbs(g3, g4)).toBeLessThan(1e-5);
    tf.dispose([...pairs.flat(), w, u1, u2, g1, g2, g3, g4]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('channelAffine equals x * scale + shift exactly, with and without the shift, for rank 4 and rank 2', async () => {
    await setupBackend(backend);
    const scale = tf.tensor1d(values(6, 5));
    const shift = tf.tensor1d(values(6, 6));
    for (const shape of [[2, 4, 5, 6], [9, 6]]) {
      const x = tf.tensor(values(shape.reduce((a, b) => a * b), 7), shape);
      const before = tf.memory().numTensors;
      const got = [channelAffine(x, scale, shift), channelAffine(x, scale)];
      const want = [tf.tidy(() => tf.add(tf.mul(x, scale), shift)), tf.mul(x, scale)];
      for (let i = 0; i < 2; i++) expect(await maxAbs(got[i]!, want[i]!)).toBeLessThan(1e-6);
      tf.dispose([...got, ...want]);
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    }
    tf.dispose([scale, shift]);
  });
});
