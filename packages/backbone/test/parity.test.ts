import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PartialNet, loadSafetensors, setupBackend, tf } from './deps.js';
import { FIXTURES, configFromMeta, fixturePath, maxAbsDiff, nchwToNhwc, readBin, readMeta, requireFixtures } from './fixtures.js';

// The fixtures' README: a faithful float32 implementation lands within ~1e-5; 1e-4 is the bar.
const TOLERANCE = 1e-4;

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`official-checkpoint parity on ${backend}`, () => {
    beforeAll(async () => {
      requireFixtures();
      await setupBackend(backend);
    });

    for (const name of FIXTURES) {
      describe(name, () => {
        let net: PartialNet;
        let input: tf.Tensor4D;
        const meta = readMeta(name);

        beforeAll(async () => {
          net = PartialNet.create(configFromMeta(meta));
          net.loadStateDict(await loadSafetensors(fixturePath(name, 'weights.safetensors')));
          net.eval();
          input = nchwToNhwc(readBin(name, 'input.bin'), meta.input.shape);
        });
        afterAll(() => {
          net.dispose();
          input.dispose();
        });

        it('has the official parameter count', () => {
          // The model holds both heads; the official counts are per model.
          const normParams = net.featureNorms.reduce((n, bn) => n + bn.numParameters(), 0);
          expect(net.numParameters() - normParams).toBe(meta.param_counts.classification);
        });

        it('reproduces the logits', () => {
          const before = tf.memory().numTensors;
          const logits = net.forward(input);
          const expected = tf.tensor2d(readBin(name, 'output.bin'), meta.classification.shape as [number, number]);
          const diff = maxAbsDiff(logits, expected);
          tf.dispose([logits, expected]);
          expect(diff).toBeLessThanOrEqual(TOLERANCE);
          expect(tf.memory().numTensors).toBe(before);
        });

        it('reproduces the four feature maps', () => {
          const before = tf.memory().numTensors;
          const feats = net.features(input);
          const diffs = feats.map((f, k) => {
            const file = `fork_feat/feat${k}.bin`;
            const expected = nchwToNhwc(readBin(name, file), meta.fork_feat.files[file]!.shape);
            const d = maxAbsDiff(f, expected);
            expected.dispose();
            return d;
          });
          tf.dispose(feats);
          for (const d of diffs) expect(d).toBeLessThanOrEqual(TOLERANCE);
          expect(tf.memory().numTensors).toBe(before);
        });

        it('fuse() gives the same logits and features', async () => {
          const before = tf.memory().numTensors;
          const fused = await net.fuse();
          const [a, b] = [net.forward(input), fused.forward(input)];
          const fa = net.features(input);
          const fb = fused.features(input);
          const logitDiff = maxAbsDiff(a, b);
          const featDiffs = fa.map((f, i) => maxAbsDiff(f, fb[i]!));
          tf.dispose([a, b, ...fa, ...fb]);
          fused.dispose();
          expect(logitDiff).toBeLessThanOrEqual(TOLERANCE);
          for (const d of featDiffs) expect(d).toBeLessThanOrEqual(TOLERANCE);
          expect(tf.memory().numTensors).toBe(before);
        });
      });
    }
  });
}
