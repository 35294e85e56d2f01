import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../src/command.js';
import { dataSynthClsCommand } from '../src/commands/data-synth-cls.js';
import { evalClsCommand } from '../src/commands/eval-cls.js';
import { trainClsCommand } from '../src/commands/train-cls.js';
import { findCommand } from '../src/registry.js';

describe('train-cls / eval-cls', () => {
  const root = mkdtempSync(join(tmpdir(), 'train-cls-'));
  const data = join(root, 'data');
  const out = join(root, 'run');
  let logs: string[] = [];

  beforeAll(async () => {
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void logs.push(args.join(' ')));
    expect(await dataSynthClsCommand.run(['--out', data, '--per-class', '4', '--val-per-class', '2', '--size', '40', '--seed', '3'])).toBe(0);
  });
  afterAll(() => {
    vi.restoreAllMocks();
    rmSync(root, { recursive: true, force: true });
  });

  it('data synth-cls is registered and writes class folders', async () => {
    expect(findCommand(['data', 'synth-cls', '--out', 'x'])?.command).toBe(dataSynthClsCommand);
    expect(logs.join('\n')).toMatch(/wrote 24 train \+ 12 val images \(40x40, seed 3, 6 classes/);
    expect(readdirSync(join(data, 'train')).sort()).toEqual(['circle', 'cross', 'hexagon', 'square', 'star', 'triangle']);
    await expect(dataSynthClsCommand.run(['--per-class', '4'])).rejects.toThrow(UsageError);
    await expect(dataSynthClsCommand.run(['--out', data, '--size', '8'])).rejects.toThrow(/--size/);
  });

  it('trains a tiny DPConv model, evaluates it and resumes', async () => {
    const common = ['--data', data, '--out', out, '--embed-dim', '8', '--depths', '1,1,1,1', '--size', '32', '--batch', '6', '--dpconv', '--backend', 'cpu', '--no-progress', '--mixup', '0.2', '--cutmix', '1'];
    expect(await trainClsCommand.run([...common, '--epochs', '1'])).toBe(0);
    const log = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const train = log.filter((r) => r.type === 'train');
    expect(train.length).toBeGreaterThan(0);
    expect(train[0]).toHaveProperty('ce');
    expect(train[0]).toHaveProperty('dpconv_gate');
    const ev = log.find((r) => r.type === 'eval')!;
    // One epoch of 4 steps only checks the plumbing; the learning test below asserts accuracy.
    expect(ev.top1).toBeGreaterThanOrEqual(0);
    expect(ev.top1).toBeLessThanOrEqual(100);
    expect(ev.top5).toBeGreaterThanOrEqual(ev.top1 as number);
    expect(existsSync(join(out, 'splits.txt'))).toBe(true);

    logs = [];
    expect(await evalClsCommand.run(['--checkpoint', out, '--data', data, '--backend', 'cpu'])).toBe(0);
    expect(logs.join('\n')).toMatch(/top-1 \d+\.\d\d%\s+top-5 \d+\.\d\d%/);
    expect(logs.join('\n')).toMatch(/c_div/);

    // A resumed run is the same run: a flag that differs from it is refused (exact resume is in train-cls-resume.test.ts).
    await expect(trainClsCommand.run([...common, '--epochs', '2', '--resume'])).rejects.toThrow(/epochs: given 2, the run has 1/);
  });

  it('learns the synthetic shapes: val top-1 >= 60% after 4 epochs (chance 16.7%)', async () => {
    const learnData = join(root, 'learn-data');
    const learnOut = join(root, 'learn-run');
    expect(await dataSynthClsCommand.run(['--out', learnData, '--per-class', '16', '--val-per-class', '8', '--size', '40', '--seed', '5'])).toBe(0);
    const args = ['--data', learnData, '--out', learnOut, '--embed-dim', '16', '--depths', '1,1,1,1', '--size', '32', '--batch', '8', '--lr', '3e-3', '--epochs', '4'];
    expect(await trainClsCommand.run([...args, '--crop-scale', '0.6,1', '--warmup-epochs', '1', '--seed', '1', '--backend', 'cpu', '--no-progress'])).toBe(0);
    const evals = readFileSync(join(learnOut, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>).filter((r) => r.type === 'eval');
    // Measured on cpu with this seed: 50%, 62.5%, 91.7%, 89.6% after epochs 1-4; 60% leaves headroom.
    expect(evals.at(-1)!.top1 as number).toBeGreaterThanOrEqual(60);
  }, 600_000);
});
