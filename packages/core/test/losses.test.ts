import { beforeAll, describe, expect, it } from 'vitest';
import { crossEntropy, setupBackend, softCrossEntropy, tf } from '../src/index.js';

describe('cross-entropy', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('crossEntropy with labels equals softCrossEntropy with (smoothed) one-hot targets, and the hand formula', () => {
    const before = tf.memory().numTensors;
    const logits = tf.tensor2d([[2, 0, -1], [0.5, 0.5, 3]]);
    const labels = tf.tensor1d([0, 2], 'int32');
    const lse = (r: number[]) => Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
    const byHand = ((lse([2, 0, -1]) - 2) + (lse([0.5, 0.5, 3]) - 3)) / 2;
    const ce = crossEntropy(logits, labels);
    expect(ce.dataSync()[0]).toBeCloseTo(byHand, 6);
    const s = 0.1;
    const smoothed = tf.tensor2d([[1 - s + s / 3, s / 3, s / 3], [s / 3, s / 3, 1 - s + s / 3]]);
    const a = crossEntropy(logits, labels, s);
    const b = softCrossEntropy(logits, smoothed);
    expect(a.dataSync()[0]).toBeCloseTo(b.dataSync()[0]!, 6);
    expect(a.dataSync()[0]).toBeGreaterThan(ce.dataSync()[0]!);
    tf.dispose([logits, labels, ce, smoothed, a, b]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('with avgFactor: the sum over rows divided by it (weighted rows as mmdet)', () => {
    const logits = tf.tensor2d([[2, 0, -1], [0.5, 0.5, 3]]);
    const onehot = tf.tensor2d([[1, 0, 0], [0, 0, 1]]);
    const mean = softCrossEntropy(logits, onehot).dataSync()[0]!;
    const byFactor = softCrossEntropy(logits, onehot, 4).dataSync()[0]!;
    expect(byFactor).toBeCloseTo((mean * 2) / 4, 6);
    tf.dispose([logits, onehot]);
  });
});
