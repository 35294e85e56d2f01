import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addN, deriveSeed, loadSafetensors, lrAt, seedEverything, setupBackend, tf, type StateDict } from '@partialnet/core';
import { splitBatch, writeShapesDataset, type Batch } from '@partialnet/data';
import {
  buildDetector,
  buildOptimizer,
  buildSchedule,
  detectionTask,
  detectionTrainData,
  detectionTrainLoader,
  openDetectionSplit,
  resolveRunConfig,
  toDetectionBatch,
  trainDetector,
  type DetectionRunConfig,
} from '../src/index.js';
import { tinyMaskRcnn, tinyRetina } from './tiny-detectors.js';

// Every step of a run with microBatch < batchSize against a reference computed without the split
// (by hand, or by the accumulation setting on the same micro-batches), on wasm with 64x64 images.

let root: string;
let data: string;
let trainImages: number;
let numClasses: number;

beforeAll(async () => {
  await setupBackend('wasm');
  root = mkdtempSync(join(tmpdir(), 'partialnet-micro-'));
  data = join(root, 'shapes');
  // Square images of one size: one aspect-ratio group and one padded shape, so a loader of batch 1
  // yields exactly the halves of a loader of batch 2 (checked below).
  await writeShapesDataset(data, { images: 10, width: 64, height: 64, seed: 4, valFraction: 0.2, format: 'png' });
  const train = await openDetectionSplit(data, 'train', { filterEmpty: true });
  trainImages = train.dataset.length;
  numClasses = train.categoryIds.length;
  expect(trainImages).toBe(8);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const MODELS = [
  ['RetinaNet', tinyRetina, 'bbox_head.retina_cls.weight'],
  ['Mask R-CNN', tinyMaskRcnn, 'roi_head.bbox_head.fc_cls.weight'],
] as const;

/** SGD: its update is linear in the gradient, so a gradient off by a factor shows (AdamW's first step would hide it). */
const sgd = { optimizer: 'sgd', lr: 0.01 } as const;

function checkpointWeights(run: string, iter: number): Promise<StateDict> {
  return loadSafetensors(join(run, 'checkpoints', `iter_${String(iter).padStart(7, '0')}`, 'model.safetensors'));
}

function maxAbsDiff(a: StateDict, b: StateDict): number {
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  let d = 0;
  for (const [k, t] of a) {
    const u = b.get(k)!.data;
    for (let i = 0; i < t.data.length; i++) d = Math.max(d, Math.abs(t.data[i]! - u[i]!));
  }
  return d;
}

function trainRecords(run: string): Record<string, number>[] {
  return readFileSync(join(run, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number> & { type: string })
    .filter((r) => (r.type as unknown) === 'train');
}

async function firstBatch(config: DetectionRunConfig, withMasks: boolean): Promise<Batch> {
  const { dataset } = await openDetectionSplit(data, config.trainSplit ?? 'train', { filterEmpty: true, withMasks });
  const r = resolveRunConfig(config, numClasses);
  const loader = detectionTrainLoader(dataset, { scale: r.scale, flipProb: r.flipProb, batchSize: r.batchSize, seed: r.seed, workers: 0, prefetch: 1 });
  // A copy: the loader reuses its buffers.
  for await (const b of loader.epoch(0)) {
    await loader.close();
    return { ...b, images: b.images.slice() };
  }
  throw new Error('no batch');
}

describe('micro-batches: a batch split into passes with accumulated gradients', () => {
  it('splitBatch cuts a batch into views of consecutive images and refuses a size that does not divide it', () => {
    const images = Float32Array.from({ length: 4 * 2 * 3 * 3 }, (_, i) => i);
    const batch: Batch = { images, shape: [4, 2, 3, 3], targets: [0, 1, 2, 3].map(() => ({}) as never), metas: [0, 1, 2, 3].map((i) => ({ index: i }) as never) };
    const parts = splitBatch(batch, 2);
    expect(parts.map((p) => p.shape)).toEqual([[2, 2, 3, 3], [2, 2, 3, 3]]);
    expect(parts.map((p) => p.metas.map((m) => m.index))).toEqual([[0, 1], [2, 3]]);
    expect([...parts[1]!.images]).toEqual([...images.subarray(36)]);
    expect(parts[1]!.images.buffer).toBe(images.buffer);
    expect(splitBatch(batch, 4)).toEqual([batch]);
    expect(() => splitBatch(batch, 3)).toThrow(/3 does not divide the batch of 4 images/);
  });

  it('the split data yields the halves of each batch, in order, and restarts at any micro-batch', async () => {
    const { dataset } = await openDetectionSplit(data, 'train', { filterEmpty: true });
    const opts = { scale: [64, 64] as [number, number], flipProb: 0.5, seed: 5, workers: 0 };
    const ids = async (batchSize: number, micro: number | undefined, start: number) => {
      const loader = detectionTrainLoader(dataset, { ...opts, batchSize });
      const d = detectionTrainData(loader, micro);
      const out: number[][] = [];
      for await (const b of d.batches(1, start)) {
        out.push(b.metas.map((m) => m.imageId));
        expect(b.images.shape[0]).toBe(micro ?? batchSize);
        d.disposeBatch!(b);
      }
      await loader.close();
      return { out, perEpoch: d.batchesPerEpoch };
    };
    const whole = await ids(2, undefined, 0);
    const split = await ids(2, 1, 0);
    expect(split.perEpoch).toBe(2 * whole.perEpoch);
    expect(split.out).toEqual(whole.out.flatMap((b) => b.map((id) => [id])));
    // Square images of one size: a loader of batch 1 pairs the same images (the reference below relies on it).
    expect((await ids(1, undefined, 0)).out).toEqual(split.out);
    expect((await ids(2, 1, 3)).out).toEqual(split.out.slice(3));
    expect(() => detectionTrainData(detectionTrainLoader(dataset, { ...opts, batchSize: 4 }), 3)).toThrow(/micro-batch of 3 images: expected a divisor of the batch size 4/);
  });

  it('with mixed aspect ratios, a step still trains on one batch of the batch size (one aspect group), unlike batch 1 x accumulate 2', async () => {
    const { dataset } = await openDetectionSplit(data, 'train', { filterEmpty: true });
    // Two aspect-ratio groups: the loader puts images of unstated size (odd positions here) in the
    // landscape group, the square ones in the other.
    const mixed = { length: dataset.length, record: (i: number) => ({ ...dataset.record(i), ...(i % 2 ? { width: undefined, height: undefined } : {}) }) };
    const landscape = (index: number) => index % 2 === 1;
    const steps = async (batchSize: number, micro: number | undefined, seed: number) => {
      const loader = detectionTrainLoader(mixed as never, { scale: [64, 64], flipProb: 0, seed, workers: 0, batchSize });
      const d = detectionTrainData(loader, micro);
      const ids: number[] = [];
      for await (const b of d.batches(0, 0)) {
        ids.push(...b.metas.map((m) => m.index));
        d.disposeBatch!(b);
      }
      await loader.close();
      return Array.from({ length: ids.length / 2 }, (_, i) => ids.slice(2 * i, 2 * i + 2));
    };
    const mixedSteps: number[] = [];
    for (const seed of [1, 2, 3, 4, 5]) {
      const split = await steps(2, 1, seed);
      expect(split).toEqual(await steps(2, undefined, seed));
      expect(split.every(([a, b]) => landscape(a!) === landscape(b!))).toBe(true);
      mixedSteps.push((await steps(1, undefined, seed)).filter(([a, b]) => landscape(a!) !== landscape(b!)).length);
    }
    // A loader of batch 1 with accumulate 2 (how the split was first done) pairs images across groups.
    expect(Math.max(...mixedSteps)).toBeGreaterThan(0);
  });

  for (const [name, make, head] of MODELS) {
    it(`${name}: a step split into 2 micro-batches has the mean loss and the parameter update of accumulating them by hand (tolerance 1e-6)`, async () => {
      // The val split's 2 images as training data: one step, whose checkpoint the run keeps.
      const config: DetectionRunConfig = { ...make(), ...sgd, data, trainSplit: 'val', batchSize: 2, microBatch: 1 };
      const before = tf.memory().numTensors;
      const run = join(root, `hook-${name}`);
      await trainDetector(config, { outDir: run, progress: false, finalEval: false });
      const logged = trainRecords(run)[0]!;
      expect(trainRecords(run).map((r) => r.iter)).toEqual([1]);

      // The reference: the run's model and optimizer, the first batch of 2 cut in two by hand, each
      // half's gradients under its own tape, averaged, one SGD step.
      const withMasks = name === 'Mask R-CNN';
      const batch = await firstBatch(config, withMasks);
      const resolved = resolveRunConfig(config, numClasses);
      seedEverything(resolved.seed);
      const model = await buildDetector(resolved);
      const optimizer = buildOptimizer(model, resolved);
      const params = model.parameters();
      const sums: Record<string, number> = {};
      let acc: tf.NamedTensorMap = {};
      for (const [m, half] of [batch.images.subarray(0, batch.images.length / 2), batch.images.subarray(batch.images.length / 2)].entries()) {
        const part = toDetectionBatch({ images: half, shape: [1, batch.shape[1], batch.shape[2], 3], targets: [batch.targets[m]!], metas: [batch.metas[m]!] });
        // The Trainer's order: beforeStep (proposals), then the loss function reseeds the samplers.
        await model.prepare(part);
        model.reseed(deriveSeed(resolved.seed, 0, m));
        let terms: Record<string, number> = {};
        let keptTerms: Record<string, tf.Scalar> = {};
        const { value, grads } = tf.variableGrads(() => {
          const t = model.forward(part);
          keptTerms = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, tf.keep(v)]));
          return addN(Object.values(t));
        }, params);
        terms = Object.fromEntries(await Promise.all(Object.entries(keptTerms).map(async ([k, v]) => [k, (await v.data())[0]!] as const)));
        tf.dispose([value, part.images, ...Object.values(keptTerms)]);
        for (const [k, v] of Object.entries(terms)) sums[k] = (sums[k] ?? 0) + v / 2;
        const next: tf.NamedTensorMap = {};
        for (const [k, g] of Object.entries(grads)) next[k] = tf.tidy(() => (acc[k] ? tf.add(acc[k]!, tf.mul(g, 0.5)) : tf.mul(g, 0.5)));
        tf.dispose([...Object.values(acc), ...Object.values(grads)]);
        acc = next;
      }
      const lr = lrAt(buildSchedule(resolved, 1), 0);
      expect(lr).toBe(0.01);
      optimizer.step(acc, lr);
      tf.dispose(Object.values(acc));
      const expected = await model.stateDict();
      optimizer.dispose();
      model.dispose();
      expect(tf.memory().numTensors).toBe(before);

      const loss = Object.values(sums).reduce((a, b) => a + b, 0);
      expect(Math.abs(logged.loss! - loss)).toBeLessThanOrEqual(1e-6 * Math.abs(loss));
      for (const [k, v] of Object.entries(sums)) expect(Math.abs(logged[k]! - v)).toBeLessThanOrEqual(1e-6 * Math.max(Math.abs(v), 1e-3));
      const got = await checkpointWeights(run, 1);
      expect(maxAbsDiff(got, expected)).toBeLessThanOrEqual(1e-6);

      // Not vacuous: the step moved the weights, and the unsplit batch (BatchNorm over both images,
      // one loss normalisation) gives another update than the split one.
      const init = resolveRunConfig(config, numClasses);
      seedEverything(init.seed);
      const fresh = await buildDetector(init);
      const initial = await fresh.stateDict();
      fresh.dispose();
      expect(maxAbsDiff(got, initial)).toBeGreaterThan(1e-4);
      const whole = join(root, `whole-${name}`);
      await trainDetector({ ...config, microBatch: 2 }, { outDir: whole, progress: false, finalEval: false });
      expect(maxAbsDiff(await checkpointWeights(whole, 1), got)).toBeGreaterThan(1e-5);
      expect(Buffer.from(got.get(head)!.data.buffer).equals(Buffer.from(initial.get(head)!.data.buffer))).toBe(false);
    });

    it(`${name}: every step of a split run equals batch 1 x accumulate 2 over the same micro-batches (losses and weights exact)`, async () => {
      const base: DetectionRunConfig = { ...make(), ...sgd, data };
      const split = join(root, `split-${name}`);
      const accumulated = join(root, `accumulated-${name}`);
      const a = await trainDetector({ ...base, batchSize: 2, microBatch: 1 }, { outDir: split, progress: false, finalEval: false });
      const b = await trainDetector({ ...base, batchSize: 1, accumulate: 2 }, { outDir: accumulated, progress: false, finalEval: false });
      expect(a.train.iters).toBe(trainImages / 2);
      expect(b.train.iters).toBe(a.train.iters);
      const la = trainRecords(split);
      const lb = trainRecords(accumulated);
      expect(la.map((r) => r.iter)).toEqual([1, 2, 3, 4]);
      expect(la.map((r) => r.loss)).toEqual(lb.map((r) => r.loss));
      expect(la.map((r) => r.lr)).toEqual(lb.map((r) => r.lr));
      expect(maxAbsDiff(await checkpointWeights(split, 4), await checkpointWeights(accumulated, 4))).toBe(0);
    });
  }

  it('resume is exact with the split active: 4 steps straight = 2 steps, resume (repeating --batch 2), 2 steps', async () => {
    const config: DetectionRunConfig = { ...tinyMaskRcnn(), data, batchSize: 2, microBatch: 1, checkpointEvery: 1 };
    const before = tf.memory().numTensors;
    const full = join(root, 'resume-full');
    const a = await trainDetector(config, { outDir: full, progress: false, finalEval: false });
    expect(a.train.iters).toBe(4);

    const cut = join(root, 'resume-cut');
    mkdirSync(join(cut, 'checkpoints'), { recursive: true });
    cpSync(join(full, 'checkpoints', 'iter_0000002'), join(cut, 'checkpoints', 'iter_0000002'), { recursive: true });
    writeFileSync(join(cut, 'checkpoints', 'latest.json'), JSON.stringify({ checkpoint: 'iter_0000002', iter: 2 }));
    // A different micro-batch size would change what the run computes: refused.
    await expect(trainDetector({ data, microBatch: 2 }, { outDir: cut, resume: true, progress: false, finalEval: false })).rejects.toThrow(/microBatch: given 2, the run has 1/);
    const messages: string[] = [];
    const b = await trainDetector({ data, batchSize: 2 }, { outDir: cut, resume: true, progress: false, finalEval: false, print: (m) => messages.push(m) });
    expect(b.resumedFrom).toMatch(/iter_0000002$/);
    expect(b.train.iters).toBe(4);
    expect(b.config).toEqual(a.config);
    expect(messages.filter((m) => m.startsWith('micro-batches'))).toEqual([expect.stringMatching(/^micro-batches \(the run's saved config\): each batch of 2 images trains as 2 passes of 1/)]);
    expect(tf.memory().numTensors).toBe(before);
    expect(maxAbsDiff(await checkpointWeights(full, 4), await checkpointWeights(cut, 4))).toBe(0);
    expect(maxAbsDiff(await checkpointWeights(full, 2), await checkpointWeights(full, 4))).toBeGreaterThan(0);
  });

  it('the run says once that it splits, and its saved config records the batch, the micro-batch and the accumulation', async () => {
    const messages: string[] = [];
    const run = join(root, 'told');
    await trainDetector({ ...tinyRetina(), data, batchSize: 2, microBatch: 1, epochs: 1 }, { outDir: run, progress: false, finalEval: false, print: (m) => messages.push(m) });
    expect(messages.filter((m) => /micro-batch/.test(m))).toEqual([
      'micro-batches (microBatch 1 in the config): each batch of 2 images trains as 2 passes of 1 with accumulated gradients, BatchNorm statistics and loss normalisation per pass; saved in the run\'s config as "microBatch": 1',
      expect.stringMatching(/batch 2 \(micro-batches of 1\), 1 epochs \(4 iters\)/),
    ]);
    const state = JSON.parse(readFileSync(join(run, 'checkpoints', 'iter_0000004', 'state.json'), 'utf8')) as { extra: { config: Record<string, unknown> } };
    expect(state.extra.config).toMatchObject({ batchSize: 2, microBatch: 1, accumulate: 1 });
    // An unsplit run says nothing about micro-batches and records the whole batch.
    const quiet: string[] = [];
    const plain = join(root, 'plain');
    const r = await trainDetector({ ...tinyRetina(), data, epochs: 1 }, { outDir: plain, progress: false, finalEval: false, print: (m) => quiet.push(m) });
    expect(quiet.filter((m) => /micro-batch/.test(m))).toEqual([]);
    expect(r.config).toMatchObject({ batchSize: 2, microBatch: 2 });
  });

  it('on wasm, 2 images at 1333x800 are split into micro-batches of 1 by default, and the user is told why', async () => {
    const messages: string[] = [];
    const adapter = await detectionTask.setup({ ...tinyRetina(), data, scale: [1333, 800], batchSize: 2 }, { outDir: join(root, 'auto'), progress: false, print: (m) => messages.push(m) });
    try {
      expect(adapter.config).toMatchObject({ batchSize: 2, microBatch: 1, accumulate: 1 });
      expect(adapter.microBatches).toBe(2);
      expect(adapter.data.batchesPerEpoch).toBe(trainImages);
      expect(messages).toEqual([expect.stringMatching(/^micro-batches \(wasm: 2 images at 1333x800 do not fit the 4 GiB heap in one pass\): each batch of 2 images trains as 2 passes of 1/)]);
    } finally {
      await adapter.close();
    }
    // Given explicitly, the config wins, and a value that does not divide the batch is refused.
    const kept = await detectionTask.setup({ ...tinyRetina(), data, scale: [1333, 800], batchSize: 2, microBatch: 2 }, { outDir: join(root, 'auto'), progress: false, print: () => {} });
    expect(kept.config.microBatch).toBe(2);
    await kept.close();
    await expect(detectionTask.setup({ ...tinyRetina(), data, batchSize: 4, microBatch: 3 }, { outDir: join(root, 'auto'), progress: false, print: () => {} })).rejects.toThrow(
      /field 'microBatch': expected a divisor of batchSize \(4\), got 3/,
    );
  });
});
