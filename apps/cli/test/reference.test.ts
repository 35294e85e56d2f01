import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compareToReference, loadReference } from '../src/reference.js';
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
