import { describe, expect, it } from 'vitest';
import { linear, setupBackend, tf } from '../src/index.js';

describe('linear', () => {
  for (const backend of ['wasm', 'cpu'] as const) {
    it(`has the gradients of x @ w + b on ${backend}`, async () => {
      await setupBackend(backend);
      const before = tf.memory().numTensors;
      const x = tf.randomNormal([5, 7], 0, 1, 'float32', 1) as tf.Tensor2D;
      const w = tf.randomNormal([7, 3], 0, 1, 'float32', 2) as tf.Tensor2D;
      const b = tf.randomNormal([3], 0, 1, 'float32', 3);
      const up = tf.randomNormal([5, 3], 0, 1, 'float32', 4);
      const ours = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(linear(a as tf.Tensor2D, c as tf.Tensor2D, d), up)))([x, w, b]);
      const ref = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.matMul(a as tf.Tensor2D, c as tf.Tensor2D), d), up)))([x, w, b]);
      ours.forEach((g, i) => {
        const r = ref[i]!.dataSync();
        g.dataSync().forEach((v, j) => expect(v).toBeCloseTo(r[j]!, 4));
      });
      tf.dispose([x, w, b, up, ours, ref]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
