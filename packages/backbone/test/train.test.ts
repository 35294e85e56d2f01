import { beforeAll, describe, expect, it as itOn } from 'vitest';
import { AdamW, crossEntropy, setupBackend } from '@partialnet/core';
import { PartialNet, tf } from './deps.js';
import { TEST_BACKENDS } from './backends.js';
import { scalarOf } from './compare.js';

// T0 itself (embed 32, depths 1-2-8-2, PAT_ch + PAT_sf) with a 10-class head on a small fixed batch.
for (const { name: backend, skip, small } of TEST_BACKENDS) {
  describe(`training T0 on ${backend}`, () => {
    const it = itOn.skipIf(skip !== undefined);
    // The software WebGPU adapter is slow: a smaller map for T0's steps there.
    const side = small ? 32 : 64;
    beforeAll(async () => {
      if (!skip) await setupBackend(backend);
    });

    it('a few AdamW steps lower the loss and leak no tensors', async () => {
      const net = PartialNet.create('t0', { numClasses: 10, dropPath: 0 });
      net.train();
      const optimizer = new AdamW([{ params: net.parameters() }], { lr: 1e-3, weightDecay: 0.05 });
      const x = tf.randomNormal([4, side, side, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
      const labels = tf.tensor1d([0, 3, 5, 9], 'int32');
      const losses: number[] = [];
      const counts: number[] = [];
      for (let step = 0; step < 6; step++) {
        const { value, grads } = tf.variableGrads(() => crossEntropy(net.forward(x), labels), net.parameters());
        optimizer.step(grads);
        losses.push(await scalarOf(value));
        tf.dispose([value, grads]);
        counts.push(tf.memory().numTensors);
      }
      tf.dispose([x, labels]);
      optimizer.dispose();
      net.dispose();
      for (const l of losses) expect(Number.isFinite(l)).toBe(true);
      expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.7);
      // Optimizer state is created on the first step; from then on the count must not move.
      expect(new Set(counts.slice(1)).size).toBe(1);
      // Full T0 on the cpu backend: minutes on a loaded 2-core machine; a correctness test, not a timing one.
    }, 600_000);

    it('every parameter receives a gradient', async () => {
      const net = PartialNet.create({ embedDim: 16, depths: [1, 1, 1, 1], spatialAttn: true, numClasses: 5, featureDim: 32 });
      net.train();
      const before = tf.memory().numTensors;
      // 64, not less: a 1x1 stage-4 map gives the iRPE table and norm6.bias a zero gradient.
      const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
      const { value, grads } = tf.variableGrads(() => {
        const feats = net.features(x);
        const featLoss = feats.reduce((acc: tf.Scalar, f) => tf.add(acc, tf.mean(tf.square(f))), tf.scalar(0));
        return tf.add(featLoss, crossEntropy(net.forward(x), tf.tensor1d([1, 2], 'int32')));
      }, net.parameters());
      const names = [...net.namedParameters()];
      const zero: string[] = [];
      for (const [name, v] of names) {
        const g = grads[v.name];
        const peak = g ? tf.tidy(() => tf.max(tf.abs(g))) : undefined;
        if (!peak || (await scalarOf(peak)) === 0) zero.push(name);
        peak?.dispose();
      }
      tf.dispose([x, value, grads]);
      expect(zero).toEqual([]);
      expect(tf.memory().numTensors).toBe(before);
      net.dispose();
    });
  });
}
