import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { saveCheckpoint, seedEverything, setupBackend } from '@partialnet/core';
import { writeShapesDataset } from '@partialnet/data';
import { createDetector } from '@partialnet/detection';
import { openDetectionSplit, resolveRunConfig } from '@partialnet/pipeline';
import { evalCommand } from '../src/commands/eval.js';
import { evalMergeCommand } from '../src/commands/eval-merge.js';
import { predictCommand } from '../src/commands/predict.js';
import { findCommand } from '../src/registry.js';

describe('eval --shard I/N and eval merge', () => {
  const root = mkdtempSync(join(tmpdir(), 'cli-shard-'));
  const data = join(root, 'shapes');
  const run = join(root, 'run');
  const logs: string[] = [];

  beforeAll(async () => {
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void logs.push(args.join(' ')));
    await setupBackend('wasm');
    await writeShapesDataset(data, { images: 12, width: 64, height: 64, seed: 5, valFraction: 0.75, format: 'png' });
    const split = await openDetectionSplit(data, 'val', { withMasks: false });
    seedEverything(1);
    const config = resolveRunConfig({ preset: 'mask-rcnn-lite-t0', model: { backbone: { config: { embedDim: 16, depths: [1, 1, 1, 1] } } } as never, scale: [64, 64], data }, split.categoryIds.length);
    const model = createDetector(config.model);
    await saveCheckpoint(run, await model.stateDict(), new Map(), {
      iter: 1,
      epoch: 0,
      batchInEpoch: 0,
      randomState: 0,
      extra: { task: 'detection', config, classNames: split.categoryIds.map(String), categoryIds: split.categoryIds },
    });
    model.dispose();
  });
  afterAll(() => {
    vi.restoreAllMocks();
    rmSync(root, { recursive: true, force: true });
  });

  it('3 shards merged equal the unsharded run to the last digit (bbox and segm, per class too)', async () => {
    expect(findCommand(['eval', 'merge', 'x'])?.command).toBe(evalMergeCommand);
    const whole = join(root, 'whole');
    expect(await evalCommand.run(['--checkpoint', run, '--batch', '1', '--out', whole, '--backend', 'wasm', '--no-progress'])).toBe(0);
    for (const i of [0, 1, 2]) expect(await evalCommand.run(['--checkpoint', run, '--shard', `${i}/3`, '--backend', 'wasm', '--no-progress'])).toBe(0);
    expect(logs.join('\n')).toMatch(/eval shard 2\/3: \d+ of 9 images/);
    const shards = readdirSync(run).filter((n) => n.startsWith('shard-')).sort();
    expect(shards).toEqual(['shard-0-of-3', 'shard-1-of-3', 'shard-2-of-3']);
    expect(await evalMergeCommand.run(shards.map((s) => join(run, s)))).toBe(0);
    const a = JSON.parse(readFileSync(join(whole, 'metrics.val.json'), 'utf8')) as Record<string, { stats: number[]; perCategory: unknown[] }>;
    const b = JSON.parse(readFileSync(join(run, 'metrics.val.json'), 'utf8')) as Record<string, { stats: number[]; perCategory: unknown[] }>;
    for (const t of ['bbox', 'segm']) {
      expect(b[t]!.stats).toEqual(a[t]!.stats);
      expect(b[t]!.perCategory).toEqual(a[t]!.perCategory);
    }
    const results = JSON.parse(readFileSync(join(whole, 'results.val.bbox.json'), 'utf8')) as unknown[];
    expect(results.length).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(join(run, 'results.val.bbox.json'), 'utf8'))).toHaveLength(results.length);
  }, 600_000);

  it('predict --shard 0/2 and 1/2 cover every image once, with the global image ids', async () => {
    const images = join(data, 'val');
    const ids: number[][] = [];
    for (const i of [0, 1]) {
      const out = join(root, `pred-${i}`);
      expect(await predictCommand.run(['--checkpoint', run, '--out', out, '--shard', `${i}/2`, '--backend', 'wasm', '--upscale', '0', images])).toBe(0);
      const json = JSON.parse(readFileSync(join(out, 'predictions.json'), 'utf8')) as { images: { id: number }[] };
      ids.push(json.images.map((im) => im.id).sort((a, b) => a - b));
    }
    const n = readdirSync(images).filter((f) => f.endsWith('.png')).length;
    expect(ids[0]!.filter((id) => ids[1]!.includes(id))).toEqual([]);
    expect([...ids[0]!, ...ids[1]!].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(ids[0]).toEqual(Array.from({ length: n }, (_, i) => i + 1).filter((id) => (id - 1) % 2 === 0));
  }, 600_000);

  it('a bad --shard is a usage error naming the expected form', async () => {
    await expect(evalCommand.run(['--checkpoint', run, '--shard', '3/3', '--backend', 'wasm'])).rejects.toThrow(/--shard: .*0 <= I < N/);
  });
});
