import { afterAll, beforeAll, describe, expect, it as itOn } from 'vitest';
import { PartialNet, loadSafetensors, setupBackend, tf } from './deps.js';
import { LARGE_FIXTURE, LARGE_FIXTURE_MISSING, LOCAL_FIXTURES, configFromMeta, fixturePath, nchwToNhwc, readBin, readMeta, requireFixtures } from './fixtures.js';
import { TEST_BACKENDS } from './backends.js';
import { maxDiff as maxAbsDiff } from './compare.js';

// The fixtures' README: a faithful float32 implementation lands within ~1e-5; 1e-4 is the bar.
const TOLERANCE = 1e-4;

for (const { name: backend, skip, small } of TEST_BACKENDS) {
  describe(`official-checkpoint parity on ${backend}`, () => {
    beforeAll(async () => {
      requireFixtures();
      if (!skip) await setupBackend(backend);
    });

    for (const name of [...LOCAL_FIXTURES, LARGE_FIXTURE]) {
      const missing = name === LARGE_FIXTURE ? LARGE_FIXTURE_MISSING : undefined;
      // The software WebGPU adapter runs T0 at 224x224 in minutes; the tiny fixtures cover its kernels.
      const tooBig = small && name === LARGE_FIXTURE;
      const it = itOn.skipIf(skip !== undefined || tooBig);
      describe.skipIf(missing !== undefined)(missing ? `${name} (skipped: ${missing})` : name, () => {
        let net: PartialNet;
        let input: tf.Tensor4D;
        let meta: ReturnType<typeof readMeta>;

        beforeAll(async () => {
          if (skip || tooBig) return;
          meta = readMeta(name);
          net = PartialNet.create(configFromMeta(meta));
          net.loadStateDict(await loadSafetensors(fixturePath(name, 'weights.safetensors')));
          net.eval();
          input = nchwToNhwc(readBin(name, 'input.bin'), meta.input.shape);
        });
        afterAll(() => {
          net?.dispose();
          input?.dispose();
        });

        it('has the official parameter count', () => {
          // The model holds both heads; the official counts are per model.
          const normParams = net.featureNorms.reduce((n, bn) => n + bn.numParameters(), 0);
          expect(net.numParameters() - normParams).toBe(meta.param_counts.classification);
        });

        it('reproduces the logits', async () => {
          const before = tf.memory().numTensors;
          const logits = net.forward(input);
          const expected = tf.tensor2d(readBin(name, 'output.bin'), meta.classification.shape as [number, number]);
          const diff = await maxAbsDiff(logits, expected);
          tf.dispose([logits, expected]);
          expect(diff).toBeLessThanOrEqual(TOLERANCE);
          expect(tf.memory().numTensors).toBe(before);
        });

        it('reproduces the four feature maps', async () => {
          const before = tf.memory().numTensors;
          const feats = net.features(input);
          const diffs: number[] = [];
          for (const [k, f] of feats.entries()) {
            const file = `fork_feat/feat${k}.bin`;
            const expected = nchwToNhwc(readBin(name, file), meta.fork_feat.files[file]!.shape);
            diffs.push(await maxAbsDiff(f, expected));
            expected.dispose();
          }
          tf.dispose(feats);
          for (const d of diffs) expect(d).toBeLessThanOrEqual(TOLERANCE);
          expect(tf.memory().numTensors).toBe(before);
        });

        itOn.skipIf(skip !== undefined || tooBig)('fuse() gives the same logits and features', async () => {
          const before = tf.memory().numTensors;
          const fused = await net.fuse();
          const [a, b] = [net.forward(input), fused.forward(input)];
          const fa = net.features(input);
          const fb = fused.features(input);
          const logitDiff = await maxAbsDiff(a, b);
          const featDiffs = await Promise.all(fa.map((f, i) => maxAbsDiff(f, fb[i]!)));
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
