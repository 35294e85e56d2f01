// Issue 10, "Work lost" 1 and 6 for train-cls: no training into someone else's run, and --resume
// continues exactly the saved run or refuses.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { tf } from '@partialnet/core';
import { dataSynthClsCommand } from '../src/commands/data-synth-cls.js';
import { trainClsCommand } from '../src/commands/train-cls.js';

describe('train-cls runs are never mixed and resume exactly', () => {
  const root = mkdtempSync(join(tmpdir(), 'train-cls-resume-'));
  const data = join(root, 'data');
  const full = join(root, 'full');
  // Small model, no mixing randomness beyond the seeded streams; 24 images / batch 6 = 4 iters per epoch.
  const flags = ['--data', data, '--embed-dim', '8', '--depths', '1,1,1,1', '--size', '32', '--batch', '6', '--epochs', '2', '--lr', '0.002', '--backend', 'cpu', '--no-progress', '--eval-every', '0'];

  beforeAll(async () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    expect(await dataSynthClsCommand.run(['--out', data, '--per-class', '4', '--val-per-class', '2', '--size', '40', '--seed', '3'])).toBe(0);
    expect(await trainClsCommand.run([...flags, '--out', full, '--checkpoint-every', '2'])).toBe(0);
  });
  afterAll(() => {
    vi.restoreAllMocks();
    rmSync(root, { recursive: true, force: true });
  });

  it('refuses an --out that holds a run unless --resume or --overwrite', async () => {
    const log = readFileSync(join(full, 'log.jsonl'), 'utf8');
    await expect(trainClsCommand.run([...flags, '--out', full])).rejects.toThrow(/not empty.*--resume.*--overwrite/s);
    expect(readFileSync(join(full, 'log.jsonl'), 'utf8')).toBe(log);
  });

  it('a resumed run takes batch, lr, epochs and size from the saved run and ends with the same weights', async () => {
    const before = tf.memory().numTensors;
    const cut = join(root, 'cut');
    mkdirSync(join(cut, 'checkpoints'), { recursive: true });
    cpSync(join(full, 'checkpoints', 'iter_0000004'), join(cut, 'checkpoints', 'iter_0000004'), { recursive: true });
    writeFileSync(join(cut, 'checkpoints', 'latest.json'), JSON.stringify({ checkpoint: 'iter_0000004', iter: 4 }));
    // Only --out, --resume and the backend: everything else comes from the run.
    expect(await trainClsCommand.run(['--out', cut, '--resume', '--backend', 'cpu', '--no-progress'])).toBe(0);
    const a = readFileSync(join(full, 'checkpoints', 'iter_0000008', 'model.safetensors'));
    const b = readFileSync(join(cut, 'checkpoints', 'iter_0000008', 'model.safetensors'));
    expect(b.equals(a)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses flags that differ from the saved run, and data with other classes', async () => {
    await expect(trainClsCommand.run([...flags, '--out', full, '--resume', '--batch', '4'])).rejects.toThrow(/batchSize: given 4, the run has 6/);
    await expect(trainClsCommand.run([...flags, '--out', full, '--resume', '--size', '48'])).rejects.toThrow(/size: given 48, the run has 32/);
    const other = join(root, 'other');
    cpSync(data, other, { recursive: true });
    for (const split of ['train', 'val']) renameSync(join(other, split, 'star'), join(other, split, 'zebra'));
    await expect(trainClsCommand.run(['--out', full, '--resume', '--data', other, '--backend', 'cpu'])).rejects.toThrow(/classes .*zebra.*trained on/s);
  });
});
