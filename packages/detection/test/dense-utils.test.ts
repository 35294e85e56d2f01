import { describe, expect, it } from 'vitest';
import { setupBackend, tf } from '@partialnet/core';
import { levelTopK } from '../src/dense-utils.js';

// levelTopK picks the deltas of each image's best anchors on the device. With more than one image
// it once used a batched gather (batchDims 1), which tfjs-backend-wasm 4.22 computes out of bounds
// (garbage deltas, then "memory access out of bounds" in training): checked against the host here.
describe.each(['cpu', 'wasm'] as const)('levelTopK on %s', (backend) => {
  it('returns, per image of a batch of 3, the k best scores and the deltas of their anchors', async () => {
    await setupBackend(backend);
    const before = tf.memory().numTensors;
    const [B, H, W, A, C, k] = [3, 4, 5, 3, 2, 7];
    const clsData = Float32Array.from({ length: B * H * W * A * C }, (_, i) => Math.sin(i * 12.9898) * 4);
    const regData = Float32Array.from({ length: B * H * W * A * 4 }, (_, i) => i);
    const cls = tf.tensor4d(clsData, [B, H, W, A * C]);
    const reg = tf.tensor4d(regData, [B, H, W, A * 4]);
    const tops = await levelTopK(cls, reg, k, C);
    tf.dispose([cls, reg]);
    expect(tf.memory().numTensors).toBe(before);
    const per = H * W * A * C;
    for (let b = 0; b < B; b++) {
      const scores = Array.from(clsData.subarray(b * per, (b + 1) * per), (x, i) => ({ s: 1 / (1 + Math.exp(-x)), i }));
      scores.sort((x, y) => y.s - x.s || x.i - y.i);
      const best = scores.slice(0, k);
      expect(Array.from(tops[b]!.indices)).toEqual(best.map((e) => e.i));
      const anchors = best.map((e) => Math.floor(e.i / C));
      const expected = anchors.flatMap((a) => [0, 1, 2, 3].map((q) => (b * H * W * A + a) * 4 + q));
      expect(Array.from(tops[b]!.deltas)).toEqual(expected);
    }
  });
});
