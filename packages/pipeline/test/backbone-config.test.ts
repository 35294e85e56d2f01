import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadWeights, setupBackend, tf } from '@partialnet/core';
import { createDetector, getPreset, listPresets, type MaskRcnnConfig } from '@partialnet/detection';
import { loadBackboneWeights, resolveRunConfig } from '../src/index.js';

const MMDET = fileURLToPath(new URL('../../core/test/fixtures/pth/mmdet-checkpoint/checkpoint.pth', import.meta.url));
/** The tiny official config the mmdet fixture was written from (embed 16, depths 1-1-2-1, PAT_ch / PAT_sf, no PAT_sp). */
const TINY = { embedDim: 16, depths: [1, 1, 2, 1], spatialAttn: false, channelAttn: true, nDiv: 4 };

describe('a detector takes any PartialNet config as its backbone', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('the official detection backbones are presets: mask-rcnn-{s,m,l}-det and retinanet-{s,m,l}-det', () => {
    for (const v of ['s', 'm', 'l']) {
      expect(listPresets()).toContain(`mask-rcnn-${v}-det`);
      expect(listPresets()).toContain(`retinanet-${v}-det`);
    }
    expect(getPreset('mask-rcnn-m-det').backbone.variant).toBe('m-det');
  });

  it('a custom-config backbone loads the backbone of an mmdetection .pth bit for bit', async () => {
    const before = tf.memory().numTensors;
    const config = { ...getPreset('mask-rcnn-lite-t0', { numClasses: 2 }), backbone: { variant: 't0', config: TINY } } as MaskRcnnConfig;
    const model = createDetector(config);
    const { loaded, missing } = await loadBackboneWeights(model, MMDET);
    expect(missing).toEqual([]);
    const source = await loadWeights(MMDET);
    expect(loaded).toBe([...source.keys()].filter((k) => k.startsWith('backbone.')).length);
    const own = await model.backbone.stateDict();
    for (const [k, t] of own) {
      const s = source.get(`backbone.${k}`)!;
      expect(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(s.data.buffer, s.data.byteOffset, s.data.byteLength)), k).toBe(true);
    }
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('DPConv-baked per-block splits build a detector whose partial convs have the baked widths, and it runs', async () => {
    const before = tf.memory().numTensors;
    const nDivPerBlock = [[2], [4], [8, 2], [4]];
    const config = { ...getPreset('retinanet-t0', { numClasses: 3 }), backbone: { variant: 't0', config: { ...TINY, nDivPerBlock } } } as const;
    const model = createDetector(config as never);
    const sd = await model.backbone.stateDict();
    expect(sd.get('stages.0.blocks.0.spatial_mixing.partial_conv3.weight')!.shape).toEqual([8, 8, 3, 3]); // 16 / 2
    expect(sd.get('stages.4.blocks.0.spatial_mixing.partial_conv3.weight')!.shape).toEqual([8, 8, 3, 3]); // 64 / 8
    expect(sd.get('stages.4.blocks.1.spatial_mixing.partial_conv3.weight')!.shape).toEqual([32, 32, 3, 3]); // 64 / 2
    model.eval();
    const x = tf.zeros([1, 64, 64, 3]);
    const feats = model.extractFeatures(x);
    expect(feats.map((f) => f.shape)).toEqual([[1, 8, 8, 256], [1, 4, 4, 256], [1, 2, 2, 256], [1, 1, 1, 256], [1, 1, 1, 256]]);
    expect(feats.every((f) => Array.from(f.dataSync()).every(Number.isFinite))).toBe(true);
    tf.dispose([x, ...feats]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('run configs take model.backbone.config and refuse unknown fields by name', () => {
    const resolved = resolveRunConfig({ preset: 'retinanet-t0', model: { backbone: { config: { embedDim: 16, depths: [1, 1, 2, 1] } } } as never }, 3);
    expect(resolved.model.backbone.config).toEqual({ embedDim: 16, depths: [1, 1, 2, 1] });
    // Resolving a resolved config changes nothing.
    expect(resolveRunConfig({ ...resolved, model: resolved.model } as never, 3).model.backbone).toEqual(resolved.model.backbone);
    expect(() => resolveRunConfig({ preset: 'retinanet-t0', model: { backbone: { config: { embedDims: 16 } } } as never }, 3)).toThrow(/model\.backbone\.config\.embedDims: unknown field/);
  });
});
