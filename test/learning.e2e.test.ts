import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tf } from '@partialnet/core';
import { writeShapesDataset } from '@partialnet/data';
import { trainDetector, type DetectionRunConfig } from '@partialnet/detection';

const E = process.env;
const SIZE = Number(E.L_SIZE ?? 64);
let root: string;
let data: string;
beforeAll(async () => {
  await setupBackend('wasm');
  root = mkdtempSync(join(tmpdir(), 'partialnet-learn-'));
  data = join(root, 'shapes');
  await writeShapesDataset(data, { images: Number(E.L_IMAGES ?? 120), width: SIZE, height: SIZE, seed: 11, valFraction: 0.2, objects: [1, 2], radius: [0.18, 0.35], format: 'png' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const common: DetectionRunConfig = {
  scale: [SIZE, SIZE], flipProb: 0.5, epochs: Number(E.L_EPOCHS ?? 4), batchSize: Number(E.L_BATCH ?? 4), lr: Number(E.L_LR ?? 1e-3),
  schedule: 'cosine', warmupIters: 10, seed: 0, evalEvery: 0, logEvery: 1000,
};
const retina: DetectionRunConfig = { ...common, preset: 'retinanet-t0', model: { neck: { outChannels: 64 }, head: { featChannels: 64, stackedConvs: 2 } } as never };
const mask: DetectionRunConfig = E.L_MASK === 'lite' ? { ...common, preset: 'mask-rcnn-lite-t0' } : {
  ...common,
  preset: 'mask-rcnn-t0',
  model: {
    neck: { outChannels: 32 },
    rpn: { featChannels: 32, sampler: { num: 64 }, train: { nmsPre: 200, maxPerImg: 50, iouThr: 0.7 }, test: { nmsPre: 200, maxPerImg: 50, iouThr: 0.7 } },
    roi: { bbox: { fcChannels: 64, sampler: { num: 32 } }, mask: { convChannels: 16, numConvs: 1 }, test: { maxPerImg: 10 } },
  } as never,
};

for (const [name, cfg] of [['retina', retina], ['mask', mask]] as const) {
  it.skipIf(E.L_ONLY && E.L_ONLY !== name)(name, async () => {
    const t0 = performance.now();
    const r = await trainDetector({ ...cfg, data }, { outDir: join(root, name), progress: false });
    const s = (performance.now() - t0) / 1000;
    console.log(`RESULT ${name} ${JSON.stringify(E.L_TAG ?? '')} secs=${s.toFixed(0)} bbox50=${r.eval?.bbox?.stats[1]} segm50=${r.eval?.segm?.stats[1]} bbox=${r.eval?.bbox?.stats[0]}`);
    expect(tf.memory().numTensors).toBeGreaterThanOrEqual(0);
  }, 900_000);
}
