import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// These run the built command line exactly as a user does (`pnpm test` builds first).
const CLI = fileURLToPath(new URL('../apps/cli/dist/main.js', import.meta.url));

function partialnet(args: string[], env: Record<string, string> = {}): string {
  return execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('partialnet command line', () => {
  it('is built', () => {
    expect(existsSync(CLI)).toBe(true);
  });

  it('info --json reports the backends and picks wasm here, never cpu by default', () => {
    const info = JSON.parse(partialnet(['info', '--json'], { PARTIALNET_BACKEND: '' }));
    const wasm = info.backends.find((b: { name: string }) => b.name === 'wasm');
    expect(wasm.available).toBe(true);
    expect(info.chosen.name).not.toBe('cpu');
  });

  it('bench backbone prints one JSON line per measurement', () => {
    const out = partialnet(['bench', 'backbone', '--variant', 't0', '--batch', '1', '--size', '64', '--iters', '1', '--warmup', '0', '--train', '--backend', 'wasm']);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.mode)).toEqual(['infer', 'infer-fused', 'train']);
    for (const l of lines) {
      expect(l).toMatchObject({ bench: 'backbone', variant: 't0', batch: 1, size: 64, backend: 'wasm' });
      expect(l.msPerIter).toBeGreaterThan(0);
      expect(l.imgPerSec).toBeGreaterThan(0);
      expect(l.machine.cores).toBeGreaterThan(0);
    }
  });

  it('a forced backend that is not installed fails with a reason and exit code 1', () => {
    let error: { status?: number; stderr?: string } = {};
    try {
      partialnet(['info', '--backend', 'tfjs-node-gpu']);
    } catch (e) {
      error = e as typeof error;
    }
    expect(error.status).toBe(1);
    expect(error.stderr).toMatch(/tfjs-node-gpu/);
  });

  it('unknown commands and flags are usage errors (exit 2)', () => {
    for (const args of [['frobnicate'], ['bench', 'backbone', '--nope']]) {
      let status = 0;
      try {
        partialnet(args);
      } catch (e) {
        status = (e as { status: number }).status;
      }
      expect(status).toBe(2);
    }
  });
});
