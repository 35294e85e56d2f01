import { execFileSync, spawnSync } from 'node:child_process';
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
    const out = partialnet(['bench', 'backbone', '--variant', 't0', '--batch', '1', '--size', '64', '--iters', '1', '--warmup', '0', '--warmup-seconds', '0', '--min-seconds', '0', '--train', '--backend', 'wasm']);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.mode)).toEqual(['infer', 'infer-fused', 'train']);
    for (const l of lines) {
      expect(l).toMatchObject({ bench: 'backbone', variant: 't0', batch: 1, size: 64, backend: 'wasm' });
      expect(l.msPerIter).toBeGreaterThan(0);
      expect(l.imgPerSec).toBeGreaterThan(0);
      expect(l.machine.cores).toBeGreaterThan(0);
    }
  });

  // Dawn and the Vulkan loader print to file descriptor 2 when they look for a GPU. A machine with
  // no Vulkan driver at all is simulated by pointing the loader at a missing ICD file.
  const CHATTER = /vkCreateInstance|Found no drivers|artificially reduced|XDG_RUNTIME_DIR|Couldn't load Vulkan|loader_get_json/;
  for (const [label, env] of [
    ['no Vulkan driver', { VK_DRIVER_FILES: '/nonexistent/icd.json' }],
    ['only a software Vulkan driver', {}],
  ] as const) {
    it(`prints none of the GPU driver chatter on a machine with ${label} (auto backend), but info shows it`, () => {
      const run = spawnSync(process.execPath, [CLI, 'bench', 'backbone', '--variant', 't0', '--batch', '1', '--size', '64', '--iters', '1', '--warmup', '0', '--warmup-seconds', '0', '--min-seconds', '0'], {
        encoding: 'utf8',
        env: { ...process.env, PARTIALNET_BACKEND: '', PARTIALNET_ALLOW_SOFTWARE_GPU: '', ...env },
      });
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/"bench":"backbone"/);
      expect(run.stderr).not.toMatch(CHATTER);
      expect(run.stdout).not.toMatch(CHATTER);
      const info = spawnSync(process.execPath, [CLI, 'info'], { encoding: 'utf8', env: { ...process.env, PARTIALNET_BACKEND: '', ...env } });
      if (label === 'no Vulkan driver') expect(info.stdout).toMatch(/webgpu driver messages \(probe\):[\s\S]*(Found no drivers|loader_get_json)/);
      expect(info.stdout).toMatch(/webgpu\s/);
    });
  }

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
