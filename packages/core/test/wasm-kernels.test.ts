import { beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tf } from '../src/index.js';

describe('wasm Identity shares data instead of copying', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  it('a clone adds no buffer, keeps its values after the original is disposed, and frees on its own disposal', () => {
    const buffers = (): number => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    const before = buffers();
    const tensors = tf.memory().numTensors;
    const x = tf.tensor1d([1, 2, 3, 4]);
    expect(buffers()).toBe(before + 1);
    const y = tf.clone(x);
    expect(buffers()).toBe(before + 1);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4]);
    expect(buffers()).toBe(before + 1);
    y.dispose();
    expect(buffers()).toBe(before);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('gradients through saved (cloned) tensors are unchanged: d/dx sum(x^2 * sin x)', () => {
    const x = tf.tensor1d([-1.5, 0.2, 0.7, 2]);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.square(v), tf.sin(v))))(x);
    const xs = [-1.5, 0.2, 0.7, 2];
    const expected = xs.map((v) => 2 * v * Math.sin(v) + v * v * Math.cos(v));
    const got = Array.from(g.dataSync());
    got.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
    tf.dispose([x, g]);
  });
});
