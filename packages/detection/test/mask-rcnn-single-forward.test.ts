import { describe, expect, it } from 'vitest';
import { getRandomState, setRandomState, setupBackend, tf, type BackendName } from '@partialnet/core';
import { createDetector, getPreset, totalLoss, type MaskRcnnConfig, type MaskRCNN } from '../src/index.js';
import { tinyTargets } from './helpers.js';

const SIZE = 96;

function smallMaskRcnn(): MaskRCNN {
  const config = getPreset('mask-rcnn-lite-t0', { numClasses: 3 }) as MaskRcnnConfig;
  config.rpn.train = { ...config.rpn.train, nmsPre: 300, maxPerImg: 100 };
  config.roi.bbox.sampler = { ...config.roi.bbox.sampler, num: 32 };
  return createDetector(config) as MaskRCNN;
}

/** One training step's losses and a few gradients; `proposals` given, or left to the forward pass. */
async function step(model: MaskRCNN, images: tf.Tensor4D, proposals?: Awaited<ReturnType<MaskRCNN['rpnHead']['proposals']>>) {
  const { targets, metas } = tinyTargets(SIZE);
  const batch = { images, targets, metas, ...(proposals ? { proposals } : {}) };
  const named: Record<string, number> = {};
  const { value, grads } = tf.variableGrads(() => {
    const losses = model.forward(batch);
    for (const [k, v] of Object.entries(losses)) named[k] = v.dataSync()[0]!;
    return totalLoss(losses);
  }, model.parameters());
  const picked = await Promise.all(['backbone.patch_embed.proj.weight', 'rpn_head.rpn_conv.weight', 'roi_head.bbox_head.fc_cls.weight'].map(async (n) => {
    const v = [...model.namedParameters()].find(([k]) => k === n)![1];
    return Array.from(await grads[v.name]!.data());
  }));
  tf.dispose([value, grads]);
  return { named, picked };
}

describe.each(['wasm', 'cpu'] as BackendName[])('Mask R-CNN training step on %s', (backend) => {
  it('takes its proposals from its own RPN outputs: one backbone pass, and the losses and gradients of the two-pass step', async () => {
    await setupBackend(backend);
    const model = smallMaskRcnn();
    model.train();
    const images = tf.randomNormal([2, SIZE, SIZE, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const { metas } = tinyTargets(SIZE);
    const buffers = [...model.namedBuffers()].map(([, v]) => [v, tf.clone(v)] as const);
    // both steps start from the same BatchNorm buffers, sampler streams and global random
    // stream (PAT_sf's dropout draws from it; prepare() restores it after its extra pass too)
    const random = getRandomState();
    const restore = () => {
      buffers.forEach(([v, saved]) => v.assign(saved));
      model.reseed(11);
      setRandomState(random);
    };

    // the two-pass step as on GPU backends: proposals from a separate forward, buffers restored
    restore();
    const { cls, reg } = tf.tidy(() => model.rpnHead.forward(model.extractFeatures(images)));
    const proposals = await model.rpnHead.proposals(cls, reg, metas, true);
    tf.dispose([cls, reg]);
    setRandomState(random);
    const twoPass = await step(model, images, proposals);
    restore();

    const batch = { images, ...tinyTargets(SIZE) };
    await model.prepare(batch);
    expect('proposals' in batch).toBe(false);
    let backbonePasses = 0;
    const features = model.backbone.features.bind(model.backbone);
    model.backbone.features = (x) => (backbonePasses++, features(x));
    const before = tf.memory().numTensors;
    const onePass = await step(model, images);
    expect(backbonePasses).toBe(1);
    expect(tf.memory().numTensors).toBe(before);

    expect(Object.keys(onePass.named).sort()).toEqual(Object.keys(twoPass.named).sort());
    for (const k of Object.keys(twoPass.named)) expect(onePass.named[k]).toBeCloseTo(twoPass.named[k]!, 6);
    onePass.picked.forEach((g, i) => {
      const ref = twoPass.picked[i]!;
      const scale = Math.max(...ref.map(Math.abs));
      expect(Math.max(...g.map((v, j) => Math.abs(v - ref[j]!)))).toBeLessThanOrEqual(1e-5 * scale);
    });
    tf.dispose([images, ...buffers.map(([, s]) => s)]);
    model.dispose();
  });
});
