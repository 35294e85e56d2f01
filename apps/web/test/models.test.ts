import { PartialNet } from '@partialnet/backbone';
import { seedEverything, serializeSafetensors, setupBackend, tf } from '@partialnet/core';
import { resolveRunConfig } from '@partialnet/pipeline';
import { createDetector } from '@partialnet/detection';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBackbone, loadRun, runModel } from '../src/models.js';

// The page's model loading and running, in Node (the browser test runs the same code in Chromium).

const image = { data: new Uint8Array(64 * 48 * 3).map((_, i) => (i * 37) % 256), width: 64, height: 48 };
const tiny = { embedDim: 16, depths: [1, 1, 1, 1], numClasses: 3 };

describe('the page\'s models', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('a train-cls run (state.json task classification) loads as a classifier with its class names and runs', async () => {
    seedEverything(0);
    const net = PartialNet.create(tiny);
    const weights = serializeSafetensors(await net.stateDict());
    const config = { model: net.config };
    net.dispose();
    const before = tf.memory().numTensors;
    const state = { iter: 3, epoch: 0, batchInEpoch: 3, randomState: 0, extra: { task: 'classification', config, classNames: ['cat', 'dog', 'emu'] } };
    const loaded = await loadRun(weights, JSON.stringify(state));
    expect(loaded.kind).toBe('backbone');
    if (loaded.kind !== 'backbone') return;
    expect(loaded.classNames).toEqual(['cat', 'dog', 'emu']);
    const out = await runModel(loaded, image, 'x.png');
    expect(out.kind).toBe('backbone');
    if (out.kind !== 'backbone') return;
    expect(out.top.map((t) => t.index).sort()).toEqual([0, 1, 2]);
    expect(out.top.reduce((s, t) => s + t.prob, 0)).toBeCloseTo(1, 5);
    expect(out.features.map((f) => f.stride)).toEqual([4, 8, 16, 32]);
    loaded.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a detector\'s weights without state.json are refused with what to drop', async () => {
    const model = createDetector(resolveRunConfig({ preset: 'retinanet-t0' }, 2).model);
    const weights = serializeSafetensors(await model.stateDict());
    model.dispose();
    await expect(loadBackbone(weights)).rejects.toThrow(/a detector's weights: drop the run's state\.json/);
  });

  it('a state.json of another kind of run names the field', async () => {
    await expect(loadRun(new Uint8Array(8), JSON.stringify({ extra: { task: 'segmentation' } }), 'runs/x/state.json')).rejects.toThrow(/runs\/x\/state\.json: field 'extra\.task': expected 'detection'/);
  });
});
