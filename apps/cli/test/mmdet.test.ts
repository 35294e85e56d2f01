import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { findLatestCheckpoint, loadSafetensors, saveCheckpoint, seedEverything, setupBackend } from '@partialnet/core';
import { createDetector } from '@partialnet/detection';
import { resolveRunConfig } from '@partialnet/pipeline';
import { UsageError } from '../src/command.js';
import { exportMmdetCommand } from '../src/commands/export-mmdet.js';
import { importMmdetCommand } from '../src/commands/import-mmdet.js';
import { findCommand } from '../src/registry.js';

describe('partialnet import mmdet / export mmdet', () => {
  const root = mkdtempSync(join(tmpdir(), 'cli-mmdet-'));
  const run = join(root, 'run');
  const logs: string[] = [];
  const runConfig = { preset: 'retinanet-t0', model: { backbone: { config: { embedDim: 16, depths: [1, 1, 1, 1] } } }, scale: [64, 64] };

  beforeAll(async () => {
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void logs.push(args.join(' ')));
    await setupBackend('cpu');
    seedEverything(2);
    const config = resolveRunConfig(runConfig as never, 2);
    const model = createDetector(config.model);
    await saveCheckpoint(run, await model.stateDict(), new Map(), { iter: 7, epoch: 1, batchInEpoch: 0, randomState: 0, extra: { task: 'detection', config, classNames: ['a', 'b'], categoryIds: [1, 2] } });
    model.dispose();
  });
  afterAll(() => {
    vi.restoreAllMocks();
    rmSync(root, { recursive: true, force: true });
  });

  it('export then import through the commands gives a run with the same weights and classes', async () => {
    expect(findCommand(['import', 'mmdet'])?.command).toBe(importMmdetCommand);
    expect(findCommand(['export', 'mmdet'])?.command).toBe(exportMmdetCommand);
    const out = join(root, 'export');
    expect(await exportMmdetCommand.run(['--checkpoint', run, '--out', out])).toBe(0);
    expect(['model.pth', 'config.py', 'partialnet_backbone.py'].every((f) => existsSync(join(out, f)))).toBe(true);
    const cfg = join(root, 'run.json');
    writeFileSync(cfg, JSON.stringify(runConfig));
    const back = join(root, 'back');
    expect(await importMmdetCommand.run(['--checkpoint', join(out, 'model.pth'), '--config', cfg, '--out', back])).toBe(0);
    expect(logs.at(-1)).toMatch(/imported \d+ tensors, 2 classes \(a, b\) into .*iter_0000007 \(meta: mmdet_version 2\.28\.2, epoch 1, iter 7/);
    const a = await loadSafetensors(join((await findLatestCheckpoint(run))!, 'model.safetensors'));
    const b = await loadSafetensors(join((await findLatestCheckpoint(back))!, 'model.safetensors'));
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    const bytes = (t: { data: Float32Array | Int32Array }) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    for (const [k, t] of a) expect(bytes(b.get(k)!).equals(bytes(t)), k).toBe(true);
  });

  it('missing arguments are usage errors', async () => {
    await expect(importMmdetCommand.run(['--checkpoint', 'x.pth', '--out', 'y'])).rejects.toThrow(UsageError);
    await expect(importMmdetCommand.run(['--preset', 'retinanet-t0', '--out', 'y'])).rejects.toThrow(/--checkpoint/);
    await expect(exportMmdetCommand.run(['--checkpoint', run])).rejects.toThrow(/--out DIR is required/);
    await expect(exportMmdetCommand.run(['--checkpoint', run, '--out', join(root, 'e2'), '--gpus', '0'])).rejects.toThrow(/--gpus/);
  });
});
