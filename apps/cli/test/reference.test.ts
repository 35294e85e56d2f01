import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compareToReference, loadReference } from '../src/reference.js';
import { timeAlternating } from '../src/timing.js';
import { takeThreadsFlag } from '../src/threads-flag.js';
import { requestedThreads } from '@partialnet/core';

const shipped = fileURLToPath(new URL('../reference/pytorch-1.13-1thread.json', import.meta.url));

describe('--reference', () => {
  it('reads the shipped PyTorch figures and puts ours / theirs next to a matching measurement', () => {
    const ref = loadReference(shipped);
    expect(ref.source).toMatch(/PyTorch 1.13/);
    expect(compareToReference(ref, 'backbone', 'train@16', 590, { size: 224 })).toEqual({ referenceMs: 295, ratio: 2 });
    expect(compareToReference(ref, 'detection', 'retinanet-t0/train', 5180, { size: 512, batch: 2 })).toEqual({ referenceMs: 2590, ratio: 2 });
  });

  it('adds nothing when the key, the size or the batch differs from what the reference measured', () => {
    const ref = loadReference(shipped);
    expect(compareToReference(ref, 'backbone', 'train@8', 100, { size: 224 })).toEqual({});
    expect(compareToReference(ref, 'backbone', 'train@16', 100, { size: 256 })).toEqual({});
    expect(compareToReference(ref, 'detection', 'retinanet-t0/train', 100, { size: 512, batch: 1 })).toEqual({});
    expect(compareToReference(undefined, 'backbone', 'train@16', 100, { size: 224 })).toEqual({});
  });

  it('reads notes beside the sections (threads, date) and compares only at the thread count the figures were measured with', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pn-ref-'));
    const file = join(dir, 'ref.json');
    writeFileSync(file, JSON.stringify({ source: 'here', threads: 2, measured: '2026-11-29', fixtureRelativeError: 3e-6, backbone: { size: 224, msPerIter: { 'infer@1': 10 } } }));
    const ref = loadReference(file);
    expect(ref.threads).toBe(2);
    expect(Object.keys(ref.sections)).toEqual(['backbone']);
    expect(compareToReference(ref, 'backbone', 'infer@1', 15, { size: 224, threads: 2 })).toEqual({ referenceMs: 10, ratio: 1.5 });
    expect(compareToReference(ref, 'backbone', 'infer@1', 15, { size: 224, threads: 1 })).toEqual({});
    writeFileSync(file, JSON.stringify({ threads: 0, backbone: { msPerIter: {} } }));
    expect(() => loadReference(file)).toThrow(/ref\.json: "threads" must be a positive integer, got 0/);
  });

  it('names the file and the field of a bad reference', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pn-ref-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ backbone: { msPerIter: { 'infer@1': 'fast' } } }));
    expect(() => loadReference(bad)).toThrow(/bad\.json: backbone\.msPerIter\["infer@1"\] must be a positive number/);
    expect(() => loadReference(join(dir, 'missing.json'))).toThrow(/--reference: cannot read .*missing\.json/);
  });
});

describe('--threads', () => {
  it('is taken out of any command\'s arguments and sets the thread count; a bad value is a usage error', () => {
    expect(takeThreadsFlag(['--batch', '2', '--threads', '3', '--train'])).toEqual(['--batch', '2', '--train']);
    expect(requestedThreads()).toBe(3);
    expect(takeThreadsFlag(['--threads=1'])).toEqual([]);
    expect(requestedThreads()).toBe(1);
    expect(() => takeThreadsFlag(['--threads', '0'])).toThrow(/--threads: expected a positive integer or 'all', got '0'/);
    expect(() => takeThreadsFlag(['--threads'])).toThrow(/--threads: expected/);
  });
});

describe('timeAlternating', () => {
  it('runs the functions in turns, warm-up first, and gives each its own median', async () => {
    const calls: string[] = [];
    const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
    const [a, b] = await timeAlternating([async () => void (calls.push('a'), await sleep(1)), async () => void (calls.push('b'), await sleep(30))], { warmup: 1, iters: 3 });
    expect(calls).toEqual(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
    expect(b!.ms).toBeGreaterThan(a!.ms);
    expect(b!.ms).toBeGreaterThanOrEqual(29);
    expect([a!.runs, b!.runs]).toEqual([3, 3]);
  });

  it('warms up and times for at least the seconds asked, beyond the run counts', async () => {
    const calls: number[] = [];
    const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
    const start = performance.now();
    const [t] = await timeAlternating([async () => void (calls.push(performance.now() - start), await sleep(10))], { warmup: 1, iters: 2, warmupSeconds: 0.1, minSeconds: 0.1 });
    // ~10 warm-up runs of ~10 ms each, then ~10 timed ones: far more than 1 + 2
    expect(t!.runs).toBeGreaterThanOrEqual(5);
    expect(calls.length - t!.runs).toBeGreaterThanOrEqual(5);
    // the first timed run started after 100 ms of warm-up
    expect(calls[calls.length - t!.runs]!).toBeGreaterThanOrEqual(99);
    expect(performance.now() - start).toBeGreaterThanOrEqual(199);
  });

  it('keeps to the run counts when the seconds are already spent', async () => {
    let calls = 0;
    const [t] = await timeAlternating([async () => void (calls++, await new Promise<void>((r) => setTimeout(r, 20)))], { warmup: 2, iters: 3, warmupSeconds: 0.001, minSeconds: 0.001 });
    expect(t!.runs).toBe(3);
    expect(calls).toBe(5);
  });
});
