import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tf } from '@partialnet/core';
import { writeShapesDataset } from '@partialnet/data';
import { trainDetector, type DetectionRunConfig } from '@partialnet/pipeline';

/**
 * Detectors learn: a short, seeded run on a small synthetic shapes set (96 train / 24 val images of
 * 64x64, 1-2 large shapes each, 6 classes) through the public `trainDetector`, then COCO AP50 on
 * val. Untrained detectors score ~0 here. Thresholds are about half of what these runs measured on
 * wasm (RetinaNet bbox AP50 0.30; Mask R-CNN bbox AP50 0.57, segm AP50 0.32), for headroom across
 * machines; each run takes 1-3 minutes on two busy cores.
 */
const SIZE = 64;
let root: string;
let data: string;

beforeAll(async () => {
  await setupBackend('wasm');
  root = mkdtempSync(join(tmpdir(), 'partialnet-learn-'));
  data = join(root, 'shapes');
  await writeShapesDataset(data, { images: 120, width: SIZE, height: SIZE, seed: 11, valFraction: 0.2, objects: [1, 2], radius: [0.18, 0.35], format: 'png' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const recipe: DetectionRunConfig = {
  scale: [SIZE, SIZE],
  flipProb: 0.5,
  epochs: 4,
  batchSize: 4,
  lr: 1e-3,
  schedule: 'cosine',
  warmupIters: 10,
  seed: 0,
  evalEvery: 0,
  logEvery: 1000,
};

async function train(name: string, config: DetectionRunConfig) {
  const before = tf.memory().numTensors;
  const r = await trainDetector({ ...recipe, ...config, data }, { outDir: join(root, name), progress: false });
  expect(tf.memory().numTensors).toBe(before);
  return r;
}

describe('detectors learn the synthetic shapes (fixed seed, 4 epochs)', () => {
  it('RetinaNet-T0 (64-channel FPN and head, 2 convs): val bbox AP50 >= 0.15', async () => {
    // The thresholds were measured with clipping 35, RetinaNet's former default; the default is now
    // mmdet's (none), which this short lr-1e-3 run does not tolerate as well: keep the clip explicit.
    const r = await train('retinanet', { preset: 'retinanet-t0', clipGradNorm: 35, model: { neck: { outChannels: 64 }, head: { featChannels: 64, stackedConvs: 2 } } as never });
    expect(r.eval?.bbox?.stats[1]).toBeGreaterThanOrEqual(0.15);
  }, 900_000);

  it('Mask R-CNN-T0 (narrow heads, few proposals): val bbox AP50 >= 0.3 and segm AP50 >= 0.15', async () => {
    const r = await train('mask-rcnn', {
      preset: 'mask-rcnn-t0',
      model: {
        neck: { outChannels: 32 },
        rpn: { featChannels: 32, sampler: { num: 64 }, train: { nmsPre: 200, maxPerImg: 50, iouThr: 0.7 }, test: { nmsPre: 200, maxPerImg: 50, iouThr: 0.7 } },
        roi: { bbox: { fcChannels: 64, sampler: { num: 32 } }, mask: { convChannels: 16, numConvs: 1 }, test: { maxPerImg: 10 } },
      } as never,
    });
    expect(r.eval?.bbox?.stats[1]).toBeGreaterThanOrEqual(0.3);
    expect(r.eval?.segm?.stats[1]).toBeGreaterThanOrEqual(0.15);
  }, 900_000);
});
