import { beforeAll, describe, expect, it, it as itOn } from 'vitest';
import { PartialNet, setupBackend, tf } from './deps.js';
import { PARTIALNET_PRESETS, type PartialNetVariant } from '../src/index.js';
import { TEST_BACKENDS } from './backends.js';

// The official parameter counts (classification model, 1000 classes).
const OFFICIAL: Record<PartialNetVariant, number> = {
  t0: 3_486_160,
  t1: 6_144_552,
  t2: 12_269_816,
  s: 28_013_304,
  m: 59_179_000,
  l: 100_641_336,
};

// Parameter counts are host arithmetic on shapes: the same on every backend, checked on cpu.
describe('presets', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  for (const variant of Object.keys(PARTIALNET_PRESETS) as PartialNetVariant[]) {
    it(`${variant} has the official parameter count`, () => {
      const before = tf.memory().numTensors;
      const net = PartialNet.create(variant, { numClasses: 1000 });
      const featureNorms = net.featureNorms.reduce((n, m) => n + m.numParameters(), 0);
      expect(net.numParameters() - featureNorms).toBe(OFFICIAL[variant]);
      net.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('rejects bad configurations with the field named', () => {
    expect(() => PartialNet.create('x9' as PartialNetVariant)).toThrow(/unknown variant 'x9'/);
    expect(() => PartialNet.create({ depths: [1, 2, 3] })).toThrow(/depths: expected 4 positive integers/);
    expect(() => PartialNet.create({ act: 'swish' as 'relu' })).toThrow(/act: expected/);
    expect(() => PartialNet.create({ embedDim: 20, numHeads: 7 })).toThrow(/numHeads/);
  });
});

describe.each(TEST_BACKENDS)('feature maps on $name', ({ name: backend, skip }) => {
  const it = itOn.skipIf(skip !== undefined);
  beforeAll(async () => {
    if (!skip) await setupBackend(backend);
  });

  it('features() reports channels and strides and matches featureInfo()', () => {
    const net = PartialNet.create({ embedDim: 16, depths: [1, 1, 1, 1], numClasses: 0 });
    net.eval();
    const before = tf.memory().numTensors;
    const x = tf.zeros([1, 96, 64, 3]);
    const feats = net.features(x);
    const info = net.featureInfo();
    expect(feats.map((f) => f.shape)).toEqual(info.map((i) => [1, 96 / i.stride, 64 / i.stride, i.channels]));
    expect(info.map((i) => i.stride)).toEqual([4, 8, 16, 32]);
    tf.dispose([x, ...feats]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => net.forward(tf.zeros([1, 64, 64, 3]))).toThrow(/no classification head/);
    net.dispose();
  });

});
