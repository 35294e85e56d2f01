import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSafetensors, saveSafetensors, setupBackend, tf } from '@partialnet/core';
import { PartialNet } from '@partialnet/backbone';
import { encodeLabelMap, writeShapesDataset } from '@partialnet/data';
import { semanticFpn } from '@partialnet/segmentation';
import { buildSegmenter, openSegCheckpoint, recipeIters, resolveSegRunConfig, scoreLabelFolders, trainSegmenter, type SegRunConfig } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'pn-seg-pipe-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A Semantic FPN small enough to train in seconds: custom PartialNet (embed 16, one block per stage), 16-channel FPN, 16-channel head. */
function tinyModel(): SegRunConfig['model'] {
  const c = semanticFpn();
  return { ...c, backbone: { variant: { embedDim: 16, depths: [1, 1, 1, 1] } }, neck: { ...c.neck, outChannels: 16 }, head: { ...c.head, channels: 16 } };
}

describe('run config', () => {
  it('recipe defaults and the 40k x 32 / 20210 images scaling of the iterations', () => {
    const c = resolveSegRunConfig({ preset: 'semantic-fpn-t0' }, 7, 960);
    expect([c.lr, c.weightDecay, c.power, c.batchSize, c.warmupIters]).toEqual([2e-4, 1e-4, 0.9, 4, 0]);
    expect([c.scale, c.ratioRange, c.cropSize, c.catMaxRatio, c.flipProb, c.photometric]).toEqual([[2048, 512], [0.5, 2], [512, 512], 0.75, 0.5, true]);
    // 40000 * 32 / 20210 = 63.34 epochs of 960 images at 4 per step.
    expect(c.iters).toBe(Math.round((40000 * 32 * 960) / 20210 / 4));
    expect(recipeIters(20210, 32)).toBe(40000);
    expect(c.scaling).toMatch(/63\.3\d epochs/);
    expect(c.model.numClasses).toBe(7);
    expect(resolveSegRunConfig({ preset: 'semantic-fpn-t0', iters: 100, batchSize: 8 }, 7, 960).scaling).toMatch(/^100 iterations as given/);
    expect(() => resolveSegRunConfig({ preset: 'semantic-fpn-t0', model: { head: { chanels: 3 } } }, 7, 10)).toThrow(/model\.head\.chanels: unknown field/);
    expect(() => resolveSegRunConfig({}, 7, 10)).toThrow(/give a 'preset'/);
  });
});

describe('scoring prediction PNGs against label PNGs', () => {
  it('matches files by name, reads palette PNGs as their indices, equals the per-pixel count', async () => {
    const dir = join(root, 'score');
    mkdirSync(join(dir, 'pred'), { recursive: true });
    mkdirSync(join(dir, 'gt'), { recursive: true });
    const [w, h] = [53, 37];
    // The prediction: a PASCAL VOC palette PNG (21 classes + 255); the labels: the same indices with some changed, as a gray PNG.
    cpSync(join(import.meta.dirname, 'fixtures', 'palette-voc-37x53.png'), join(dir, 'pred', 'a.png'));
    const pred = new Uint8Array(readFileSync(join(import.meta.dirname, 'fixtures', 'palette-voc-37x53.labels.u8')));
    const gt = pred.map((v, i) => (v === 255 ? 3 : i % 4 === 0 ? (v + 1) % 21 : i % 11 === 0 ? 255 : v));
    writeFileSync(join(dir, 'gt', 'a.png'), await encodeLabelMap({ data: gt, width: w, height: h }));
    // Predictions of 255 are not classes: score only where the prediction is a class.
    const predClasses = pred.map((v) => (v === 255 ? 0 : v));
    cpSync(join(dir, 'pred', 'a.png'), join(dir, 'pred-raw.png'));
    writeFileSync(join(dir, 'pred', 'a.png'), await encodeLabelMap({ data: predClasses, width: w, height: h }));
    let m = await scoreLabelFolders({ predictions: join(dir, 'pred'), labels: join(dir, 'gt'), numClasses: 21 });
    let correct = 0;
    let labelled = 0;
    for (let i = 0; i < gt.length; i++) if (gt[i] !== 255) (labelled++, predClasses[i] === gt[i] && correct++);
    expect(m.aAcc).toBeCloseTo(correct / labelled, 12);
    expect(m.images).toBe(1);
    // The palette file itself as the label map: its indices (not its colours) are read, so it scores perfectly against itself.
    mkdirSync(join(dir, 'pal'), { recursive: true });
    cpSync(join(dir, 'pred-raw.png'), join(dir, 'pal', 'a.png'));
    writeFileSync(join(dir, 'pal-pred-a.png'), await encodeLabelMap({ data: predClasses, width: w, height: h }));
    mkdirSync(join(dir, 'pal-pred'), { recursive: true });
    cpSync(join(dir, 'pal-pred-a.png'), join(dir, 'pal-pred', 'a.png'));
    m = await scoreLabelFolders({ predictions: join(dir, 'pal-pred'), labels: join(dir, 'pal'), numClasses: 21 });
    expect([m.aAcc, m.mIoU, m.mAcc]).toEqual([1, 1, 1]);
    writeFileSync(join(dir, 'gt', 'b.png'), await encodeLabelMap({ data: gt, width: w, height: h }));
    await expect(scoreLabelFolders({ predictions: join(dir, 'pred'), labels: join(dir, 'gt'), numClasses: 21 })).rejects.toThrow(/no prediction for 1 label map\(s\): b\.png/);
  });
});

describe('ImageNet backbone weights', () => {
  it('an official-style classification checkpoint (with its head) loads into backbone.*; the head is dropped', async () => {
    await setupBackend('wasm');
    const net = PartialNet.create({ embedDim: 16, depths: [1, 1, 1, 1] }, { numClasses: 10 });
    const file = join(root, 'imagenet.safetensors');
    await saveSafetensors(await net.stateDict(), file);
    const config = resolveSegRunConfig({ model: tinyModel(), backboneWeights: file }, 3, 10);
    const model = await buildSegmenter(config);
    const mine = await model.stateDict();
    let compared = 0;
    for (const [name, t] of await net.stateDict()) {
      if (name.startsWith('head.') || name.startsWith('avgpool_pre_head.')) {
        expect(mine.has(`backbone.${name}`)).toBe(false);
        continue;
      }
      expect(Buffer.from(mine.get(`backbone.${name}`)!.data.buffer).equals(Buffer.from(t.data.buffer))).toBe(true);
      compared++;
    }
    expect(compared).toBeGreaterThan(20);
    model.dispose();
    net.dispose();
  });
});

describe('training', () => {
  let data: string;
  beforeAll(async () => {
    await setupBackend('wasm');
    data = join(root, 'shapes');
    await writeShapesDataset(data, { images: 10, width: 64, height: 64, seed: 4, valFraction: 0.2, format: 'png' });
  });

  it('resume gives the same parameters as an uninterrupted run, bit for bit', async () => {
    const config: SegRunConfig = { model: tinyModel(), data, iters: 4, batchSize: 2, scale: [128, 64], cropSize: [64, 64], checkpointEvery: 1, lr: 1e-3 };
    const before = tf.memory().numTensors;
    const full = join(root, 'run-full');
    const a = await trainSegmenter(config, { outDir: full, progress: false, finalEval: false });
    expect(a.train.iters).toBe(4);
    const cut = join(root, 'run-cut');
    mkdirSync(join(cut, 'checkpoints'), { recursive: true });
    cpSync(join(full, 'checkpoints', 'iter_0000002'), join(cut, 'checkpoints', 'iter_0000002'), { recursive: true });
    writeFileSync(join(cut, 'checkpoints', 'latest.json'), JSON.stringify({ checkpoint: 'iter_0000002', iter: 2 }));
    const b = await trainSegmenter({ data }, { outDir: cut, resume: true, progress: false, finalEval: false });
    expect(b.resumedFrom).toMatch(/iter_0000002$/);
    expect(b.config).toEqual(a.config);
    expect(tf.memory().numTensors).toBe(before);
    const wa = await loadSafetensors(join(full, 'checkpoints', 'iter_0000004', 'model.safetensors'));
    const wb = await loadSafetensors(join(cut, 'checkpoints', 'iter_0000004', 'model.safetensors'));
    expect([...wb.keys()]).toEqual([...wa.keys()]);
    let maxDiff = 0;
    for (const [k, t] of wa) {
      const u = wb.get(k)!.data;
      for (let i = 0; i < t.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(t.data[i]! - u[i]!));
    }
    expect(maxDiff).toBe(0);
    const w2 = await loadSafetensors(join(full, 'checkpoints', 'iter_0000002', 'model.safetensors'));
    expect(Buffer.from(w2.get('decode_head.conv_seg.weight')!.data.buffer).equals(Buffer.from(wa.get('decode_head.conv_seg.weight')!.data.buffer))).toBe(false);
    expect(wa.has('decode_head.scale_heads.3.4.conv.weight')).toBe(true);
  });
});
