import { beforeAll, describe, expect, it, it as itOn } from 'vitest';
import { PartialNet, setupBackend, tf } from './deps.js';
import { CLASSIFICATION_VARIANTS, DETECTION_BACKBONE_VARIANTS, PARTIALNET_PRESETS, type PartialNetVariant } from '../src/index.js';
import { TEST_BACKENDS } from './backends.js';

/**
 * Parameter counts of the official PyTorch models (haiduo/PartialNet, the repository the fixtures
 * come from), per variant: the classification model with a 1000-class head, `sum(p.numel())`,
 * without the dense-prediction model's norm0..6. T0's count is also the `param_counts.classification`
 * of the official `t0-224x224` fixture (see test/fixtures/README.md).
 */
const OFFICIAL: Record<(typeof CLASSIFICATION_VARIANTS)[number], number> = {
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

  it('every preset is either a classification variant or an official detection backbone', () => {
    expect(Object.keys(PARTIALNET_PRESETS).sort()).toEqual([...CLASSIFICATION_VARIANTS, ...DETECTION_BACKBONE_VARIANTS].sort());
  });

  // The official detection configs' neck in_channels (detection/configs/partialnet/mask_rcnn_partialnet_*_fpn_1x_coco.py).
  const OFFICIAL_NECK_IN: Record<(typeof DETECTION_BACKBONE_VARIANTS)[number], number[]> = {
    's-det': [128, 256, 512, 1024],
    'm-det': [144, 288, 576, 1152],
    'l-det': [192, 384, 768, 1536],
  };
  for (const variant of DETECTION_BACKBONE_VARIANTS) {
    it(`${variant} (official detection backbone) has the feature widths of the official mmdet config and PAT_sp blocks`, async () => {
      const before = tf.memory().numTensors;
      const net = PartialNet.create(variant, { numClasses: 0 });
      expect(net.featureInfo().map((f) => f.channels)).toEqual(OFFICIAL_NECK_IN[variant]);
      const names = [...(await net.stateDict()).keys()];
      expect(names.some((n) => /^stages\.0\.blocks\.0\.mlp\.4\./.test(n))).toBe(true); // PAT_sp after the MLP
      expect(names.some((n) => n.startsWith('head.'))).toBe(false);
      net.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  for (const variant of CLASSIFICATION_VARIANTS) {
    it(`${variant}: ${OFFICIAL[variant].toLocaleString('en-US')} parameters, the official PyTorch ${variant} model's (1000 classes)`, () => {
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

  it('rejects bad configurations with the field named', () => {
    expect(() => PartialNet.create('x9' as PartialNetVariant)).toThrow(/unknown variant 'x9'/);
    expect(() => PartialNet.create({ depths: [1, 2, 3] })).toThrow(/depths: expected 4 positive integers/);
    expect(() => PartialNet.create({ act: 'swish' as 'relu' })).toThrow(/act: expected/);
    expect(() => PartialNet.create({ embedDim: 20, numHeads: 7 })).toThrow(/numHeads/);
  });

  it('rejects unknown config fields, naming them and the known ones (no silent T0)', () => {
    expect(() => PartialNet.create({ embed_dim: 64 } as never)).toThrow(/config: unknown field 'embed_dim' \(known: embedDim, depths, act, .*nDivPerBlock\)/);
    expect(() => PartialNet.create('t0', { numClass: 10 } as never)).toThrow(/options: unknown field 'numClass'/);
    expect(() => new PartialNet({ ...PARTIALNET_PRESETS.t0, depth: 3 } as never)).toThrow(/unknown field 'depth'/);
  });
});
