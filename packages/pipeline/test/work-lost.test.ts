// Issue 10, "Work lost": the detection pipeline never replaces or mixes a user's results silently.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tf } from '@partialnet/core';
import { writeShapesDataset } from '@partialnet/data';
import { evaluateDetections, openDetectionSplit, trainDetector, type DetectionRunConfig } from '../src/index.js';
import { tinyRetina } from './tiny-detectors.js';

let root: string;
let data: string;

beforeAll(async () => {
  await setupBackend('wasm');
  root = mkdtempSync(join(tmpdir(), 'partialnet-worklost-'));
  data = join(root, 'shapes');
  await writeShapesDataset(data, { images: 8, width: 64, height: 64, seed: 4, valFraction: 0.25, format: 'png' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const tiny = (): DetectionRunConfig => ({ ...tinyRetina(), data });
const quiet = { progress: false, finalEval: false } as const;
const jsonLines = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('run folders', () => {
  it('a new run refuses a folder that holds something, unless --resume or --overwrite', async () => {
    const out = join(root, 'taken');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'log.jsonl'), '{"type":"train","iter":1,"loss":1}\n');
    await expect(trainDetector(tiny(), { outDir: out, ...quiet })).rejects.toThrow(/not empty.*--resume.*--overwrite/s);
    expect(readFileSync(join(out, 'log.jsonl'), 'utf8')).toBe('{"type":"train","iter":1,"loss":1}\n');
    const before = tf.memory().numTensors;
    await trainDetector(tiny(), { outDir: out, ...quiet, overwrite: true } as never);
    expect(tf.memory().numTensors).toBe(before);
    // The old run's log is gone, not continued: the new log starts at iteration 1 once.
    expect(jsonLines(join(out, 'log.jsonl')).filter((r) => r.type === 'train').map((r) => r.iter)).toEqual([1, 2, 3]);
  });
});

describe('resume is exact or refuses', () => {
  let run: string;
  beforeAll(async () => {
    run = join(root, 'run');
    await trainDetector({ ...tiny(), checkpointEvery: 1 }, { outDir: run, ...quiet });
  });

  it('refuses settings that differ from the saved run instead of ignoring them', async () => {
    await expect(trainDetector({ data, batchSize: 4 }, { outDir: run, resume: true, ...quiet })).rejects.toThrow(/batchSize: given 4, the run has 2/);
  });

  it('accepts --lr and --clip-grad on resume and records them as overrides in log.jsonl and state.json', async () => {
    const cut = join(root, 'cut');
    mkdirSync(join(cut, 'checkpoints'), { recursive: true });
    for (const f of readdirSync(join(run, 'checkpoints', 'iter_0000001'))) {
      mkdirSync(join(cut, 'checkpoints', 'iter_0000001'), { recursive: true });
      writeFileSync(join(cut, 'checkpoints', 'iter_0000001', f), readFileSync(join(run, 'checkpoints', 'iter_0000001', f)));
    }
    writeFileSync(join(cut, 'checkpoints', 'latest.json'), JSON.stringify({ checkpoint: 'iter_0000001', iter: 1 }));
    const r = await trainDetector({ data, lr: 1e-4, clipGradNorm: 5 }, { outDir: cut, resume: true, ...quiet });
    expect(r.config.lr).toBe(1e-4);
    expect(r.config.clipGradNorm).toBe(5);
    const log = jsonLines(join(cut, 'log.jsonl'));
    expect(log.filter((l) => l.type === 'override').map((l) => [l.field, l.from, l.to, l.iter])).toEqual([
      ['lr', 1e-3, 1e-4, 1],
      ['clipGradNorm', 0, 5, 1], // RetinaNet's default: no clipping, as mmdet 2.x's retinanet 1x
    ]);
    // Step 1 (logged as iteration 2) runs before the first milestone: at the new base lr.
    expect(log.find((l) => l.type === 'train' && l.iter === 2)!.lr).toBeCloseTo(1e-4, 12);
    const state = JSON.parse(readFileSync(join(cut, 'checkpoints', 'iter_0000003', 'state.json'), 'utf8')) as { extra: { config: { lr: number }; overrides: { field: string; to: number }[] } };
    expect(state.extra.config.lr).toBe(1e-4);
    expect(state.extra.overrides.map((o) => [o.field, o.to])).toEqual([
      ['lr', 1e-4],
      ['clipGradNorm', 5],
    ]);
  });

  it('refuses to resume without optimizer.safetensors unless --reset-optimizer', async () => {
    const cut = join(root, 'no-optimizer');
    mkdirSync(join(cut, 'checkpoints', 'iter_0000001'), { recursive: true });
    for (const f of ['model.safetensors', 'state.json']) writeFileSync(join(cut, 'checkpoints', 'iter_0000001', f), readFileSync(join(run, 'checkpoints', 'iter_0000001', f)));
    writeFileSync(join(cut, 'checkpoints', 'latest.json'), JSON.stringify({ checkpoint: 'iter_0000001', iter: 1 }));
    await expect(trainDetector({ data }, { outDir: cut, resume: true, ...quiet })).rejects.toThrow(/optimizer\.safetensors.*--reset-optimizer/s);
    // The refused resume left nothing behind in the run folder.
    expect(readdirSync(cut).sort()).toEqual(['checkpoints']);
    const r = await trainDetector({ data }, { outDir: cut, resume: true, ...quiet, resetOptimizer: true } as never);
    expect(r.train.iters).toBe(3);
    expect(jsonLines(join(cut, 'log.jsonl')).filter((l) => l.type === 'override').map((l) => [l.field, l.to, l.iter])).toEqual([['optimizerState', 'reset', 1]]);
  });
});

describe('results files', () => {
  it('an evaluation that fails half-way leaves the previous results file as it was', async () => {
    const split = await openDetectionSplit(data, 'val', { withMasks: false });
    const out = join(root, 'eval');
    const one = (id: number) => ({ boxes: Float32Array.of(1, 1, 20, 20), scores: Float32Array.of(0.9), labels: Int32Array.of(0), id });
    const o = { dataset: split.dataset, gt: split.gt, labelToCategoryId: split.categoryIds, iouTypes: ['bbox'] as const, outDir: out, scale: [64, 64] as [number, number], batchSize: 1, progress: false };
    const first = await evaluateDetections({ ...o, predict: (_x, metas) => metas.map((m) => one(m.imageId)) });
    const file = first.bbox!.resultsFile;
    const complete = readFileSync(file, 'utf8');
    expect(JSON.parse(complete)).toHaveLength(split.dataset.length);
    let calls = 0;
    await expect(
      evaluateDetections({
        ...o,
        predict: (_x, metas) => {
          if (++calls === 2) throw new Error('corrupt image');
          return metas.map(() => ({ boxes: new Float32Array(0), scores: new Float32Array(0), labels: new Int32Array(0) }));
        },
      }),
    ).rejects.toThrow('corrupt image');
    expect(readFileSync(file, 'utf8')).toBe(complete);
    expect(readdirSync(out).filter((n) => n.includes('tmp'))).toEqual([]);
  });

  it('names results files by split, so evaluating test keeps the val results', async () => {
    const split = await openDetectionSplit(data, 'val', { withMasks: false });
    const out = join(root, 'eval-splits');
    const o = { dataset: split.dataset, gt: split.gt, labelToCategoryId: split.categoryIds, iouTypes: ['bbox'] as const, outDir: out, scale: [64, 64] as [number, number], progress: false };
    const none = (_x: unknown, metas: readonly unknown[]) => metas.map(() => ({ boxes: new Float32Array(0), scores: new Float32Array(0), labels: new Int32Array(0) }));
    const val = await evaluateDetections({ ...o, predict: none, split: 'val' } as never);
    const test = await evaluateDetections({ ...o, predict: none, split: 'test' } as never);
    expect((val as { bbox: { resultsFile: string } }).bbox.resultsFile).toBe(join(out, 'results.val.bbox.json'));
    expect((test as { bbox: { resultsFile: string } }).bbox.resultsFile).toBe(join(out, 'results.test.bbox.json'));
    expect(existsSync(join(out, 'results.val.bbox.json')) && existsSync(join(out, 'results.test.bbox.json'))).toBe(true);
  });
});
