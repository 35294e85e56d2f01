import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tf } from '@partialnet/core';
import { CocoDataset, DataLoader, trainPipeline, writeShapesDataset, type Batch } from '../src/index.js';
import { WorkerPool } from '../src/internals.js';
import { batchToTensor } from '../src/tensor.js';
import { tempDir } from './helpers.js';
import { join } from 'node:path';

let dir: string;
let cleanup: () => Promise<void>;
let dataset: CocoDataset;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await writeShapesDataset(dir, { images: 14, width: 96, height: 64, seed: 11, valFraction: 0.15 });
  dataset = await CocoDataset.fromFile(join(dir, 'annotations/instances_train.json'), join(dir, 'train'));
});
afterAll(() => cleanup());

interface Summary {
  shape: number[];
  ids: number[];
  flips: boolean[];
  checksum: number;
  boxes: number[][];
}

function summarize(b: Batch): Summary {
  let checksum = 0;
  for (let i = 0; i < b.images.length; i += 7) checksum += b.images[i]! * ((i % 13) + 1);
  return {
    shape: [...b.shape],
    ids: b.metas.map((m) => m.imageId),
    flips: b.metas.map((m) => m.flip),
    checksum,
    boxes: b.targets.map((t) => Array.from(t.boxes)),
  };
}

async function run(workers: number, seed: number, epoch = 0, extra: object = {}): Promise<Summary[]> {
  const loader = new DataLoader(dataset, {
    batchSize: 3,
    pipeline: trainPipeline({ scale: [[128, 96], [160, 120]] }),
    shuffle: true,
    seed,
    workers,
    prefetch: 2,
    groupByAspectRatio: true,
    ...extra,
  });
  const out: Summary[] = [];
  try {
    for await (const b of loader.epoch(epoch)) out.push(summarize(b));
  } finally {
    await loader.close();
  }
  return out;
}

describe('DataLoader', () => {
  it('gives identical batches with 0, 1 and 2 workers (seeded, order preserved)', async () => {
    const a = await run(0, 5);
    const b = await run(2, 5);
    const c = await run(1, 5);
    expect(a.length).toBe(Math.ceil(dataset.length / 3));
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    // Augmentation really happens: some images flipped, some not, multi-scale used.
    const flips = a.flatMap((s) => s.flips);
    expect(flips).toContain(true);
    expect(flips).toContain(false);
  });

  it('is deterministic from the seed and differs between seeds and epochs', async () => {
    const a = await run(0, 1, 0);
    expect(await run(0, 1, 0)).toEqual(a);
    expect(await run(0, 2, 0)).not.toEqual(a);
    expect(await run(0, 1, 1)).not.toEqual(a);
  });

  it('shards across ranks', async () => {
    const r0 = await run(0, 1, 0, { rank: 0, worldSize: 2 });
    const r1 = await run(0, 1, 0, { rank: 1, worldSize: 2 });
    expect(r0.length).toBe(r1.length);
    const ids = [...r0, ...r1].flatMap((s) => s.ids);
    expect(new Set(ids).size).toBe(dataset.length);
  });

  it('workers shut down cleanly, also when the consumer stops early', async () => {
    const loader = new DataLoader(dataset, { batchSize: 2, pipeline: trainPipeline({ scale: [128, 96] }), workers: 2, prefetch: 3 });
    let n = 0;
    for await (const _ of loader.epoch(0)) if (++n === 2) break;
    expect(n).toBe(2);
    const pool = (loader as unknown as { pool: WorkerPool }).pool;
    expect(pool).toBeInstanceOf(WorkerPool);
    const t0 = performance.now();
    await loader.close();
    expect(performance.now() - t0).toBeLessThan(4000); // exited on request, not by the 5 s terminate fallback
    const workers = (pool as unknown as { workers: { threadId: number }[] }).workers;
    expect(workers.every((w) => w.threadId === -1)).toBe(true); // threadId is -1 once a worker has exited
    await expect(pool.load(dataset.record(0), 0)).rejects.toThrow(/closed/);
    await expect(loader.epoch(0).next()).rejects.toThrow(/closed/);
  });

  it('bounds the prefetch window', async () => {
    let maxInflight = 0;
    let inflight = 0;
    const ds = {
      length: dataset.length,
      record: (i: number) => dataset.record(i),
    };
    const loader = new DataLoader(ds, { batchSize: 2, pipeline: trainPipeline({ scale: [128, 96] }), prefetch: 2 });
    const orig = (loader as unknown as { loadOne: (i: number, e: number) => Promise<unknown> }).loadOne.bind(loader);
    (loader as unknown as { loadOne: (i: number, e: number) => Promise<unknown> }).loadOne = (i, e) => {
      inflight++;
      maxInflight = Math.max(maxInflight, inflight);
      return orig(i, e).finally(() => inflight--);
    };
    for await (const _ of loader.epoch(0)) await new Promise((r) => setTimeout(r, 5));
    await loader.close();
    expect(maxInflight).toBeLessThanOrEqual(2 * 2);
    expect(maxInflight).toBeGreaterThanOrEqual(2);
  });

  it('makes an NHWC tensor from a batch without leaking tensors', async () => {
    await setupBackend('cpu');
    const before = tf.memory().numTensors;
    const loader = new DataLoader(dataset, { batchSize: 2, pipeline: trainPipeline({ scale: [128, 96] }) });
    for await (const b of loader.epoch(0)) {
      const t = batchToTensor(b);
      expect(t.shape).toEqual(b.shape);
      expect(t.shape[1]! % 32).toBe(0);
      const v = await t.data();
      expect(v[5]).toBeCloseTo(b.images[5]!, 5);
      t.dispose();
      break;
    }
    await loader.close();
    expect(tf.memory().numTensors).toBe(before);
  });
});
