import { beforeAll, describe, expect, it } from 'vitest';
import { addBias, addSameShape, reluKeepingOutput, setupBackend, tf } from '../src/index.js';

describe.each(['cpu', 'wasm'] as const)('addBias, addSameShape and reluKeepingOutput on %s', (backend) => {
  beforeAll(async () => {
    await setupBackend(backend);
  });

  it('give the values and gradients of tf.add and tf.relu', () => {
    const before = tf.memory().numTensors;
    const x = tf.randomNormal([2, 3, 3, 4], 0, 1, 'float32', 5);
    const b = tf.tensor1d([0.5, -1, 0, 2]);
    const probe = tf.randomNormal([2, 3, 3, 4], 0, 1, 'float32', 6);
    const ref = (v: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(tf.relu(tf.add(v, c)), probe));
    const ours = (v: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(reluKeepingOutput(addBias(v, c)), probe));
    const r = tf.valueAndGrads(ref)([x, b]);
    const o = tf.valueAndGrads(ours)([x, b]);
    expect(o.value.dataSync()[0]).toBe(r.value.dataSync()[0]);
    expect(Array.from(o.grads[0]!.dataSync())).toEqual(Array.from(r.grads[0]!.dataSync()));
    const gb = o.grads[1]!.dataSync();
    const rb = r.grads[1]!.dataSync();
    for (let i = 0; i < 4; i++) expect(gb[i]).toBeCloseTo(rb[i]!, 5);
    tf.dispose([x, b, probe, r.value, o.value, ...r.grads, ...o.grads]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('addSameShape gives the values and gradients of tf.add, and refuses different shapes', () => {
    const a = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 7);
    const b = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 8);
    const probe = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 9);
    const r = tf.valueAndGrads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.square(tf.add(x, y)), probe)))([a, b]);
    const o = tf.valueAndGrads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.square(addSameShape(x, y)), probe)))([a, b]);
    expect(o.value.dataSync()[0]).toBe(r.value.dataSync()[0]);
    expect(Array.from(o.grads[0]!.dataSync())).toEqual(Array.from(r.grads[0]!.dataSync()));
    expect(Array.from(o.grads[1]!.dataSync())).toEqual(Array.from(r.grads[1]!.dataSync()));
    expect(() => tf.grad((x: tf.Tensor) => tf.sum(addSameShape(x, tf.ones([3]))))(a)).toThrow(/shapes \[2,3,4\] and \[3\] differ/);
    tf.dispose([a, b, probe, r.value, o.value, ...r.grads, ...o.grads]);
  });
});
