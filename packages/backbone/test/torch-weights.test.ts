import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSafetensors, loadWeights } from '@partialnet/core';
import { PartialNet, setupBackend, tf, type PartialNetConfig } from './deps.js';

/** The torch.save fixtures live in core's tests (written by PyTorch 1.13 from the official model code). */
const PTH = fileURLToPath(new URL('../../core/test/fixtures/pth/', import.meta.url));

const TINY: Partial<PartialNetConfig> = { embedDim: 16, depths: [1, 1, 2, 1], numClasses: 10, featureDim: 64, mlpRatio: 2, nDiv: 4, channelAttn: true, dropPath: 0 };

describe('PartialNet loads official PyTorch checkpoints directly', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  for (const [name, extra] of [
    ['plain-state-dict', { act: 'gelu', spatialAttn: false }],
    ['legacy-format', { act: 'gelu', spatialAttn: false }],
    ['fp16-state-dict', { act: 'relu', spatialAttn: true }],
  ] as const) {
    it(`${name}/checkpoint.pth loads strictly and the model's state dict equals the expected tensors (fp16 widened exactly)`, async () => {
      const before = tf.memory().numTensors;
      const net = PartialNet.create({ ...TINY, ...extra });
      const result = net.loadStateDict(await loadWeights(`${PTH}${name}/checkpoint.pth`));
      expect(result.missing.filter((n) => !/^norm\d/.test(n))).toEqual([]);
      const expectedDir = name === 'legacy-format' ? 'plain-state-dict' : name;
      const expected = await loadSafetensors(`${PTH}${expectedDir}/expected.safetensors`);
      const got = await net.stateDict();
      const loaded = [...got].filter(([k]) => !result.missing.includes(k));
      expect(loaded.length).toBe([...expected.keys()].filter((k) => !k.endsWith('num_batches_tracked')).length);
      for (const [k, t] of loaded) {
        const e = expected.get(k);
        expect(e, k).toBeDefined();
        expect(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(e!.data.buffer, e!.data.byteOffset, e!.data.byteLength)), k).toBe(true);
      }
      net.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
