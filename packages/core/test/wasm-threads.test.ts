import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { availableCores, parseThreads } from '../src/runtime/threads.js';

describe('thread count', () => {
  it('parses a positive integer or all, and names the source of a bad value', () => {
    expect(parseThreads('3', '--threads')).toBe(3);
    expect(parseThreads('all', '--threads')).toBe(availableCores());
    expect(() => parseThreads('0', 'PARTIALNET_THREADS')).toThrow(/PARTIALNET_THREADS: expected a positive integer or 'all', got '0'/);
    expect(() => parseThreads('two', '--threads')).toThrow(/--threads/);
  });
});

// Each wasm module starts once per process: one child process per thread count, on the built
// package (plain node). `pnpm test` builds first.
const dist = fileURLToPath(new URL('../dist/runtime/wasm-threads.js', import.meta.url));
const src = fileURLToPath(new URL('../src/runtime/wasm-threads.ts', import.meta.url));
const distFresh = existsSync(dist) && statSync(dist).mtimeMs >= statSync(src).mtimeMs;
const script = `
import { setupBackend, tf } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
const r = await setupBackend('wasm');
const x = tf.randomUniform([2, 20, 20, 16], -1, 1, 'float32', 1);
const w = tf.randomUniform([3, 3, 16, 24], -1, 1, 'float32', 2);
const a = tf.randomUniform([70, 90], -1, 1, 'float32', 3);
const b = tf.randomUniform([90, 50], -1, 1, 'float32', 4);
const y = tf.conv2d(x, w, 1, 'same');
const z = tf.matMul(a, b);
const { kernelPoolThreads } = await import(${JSON.stringify(new URL('../dist/runtime/kernel-pool.js', import.meta.url).href)});
console.log(JSON.stringify({ threads: r.wasm.threads, xnnpack: r.wasm.xnnpackThreads, pool: kernelPoolThreads(), conv: Array.from(await y.data()), mm: Array.from(await z.data()) }));
`;

function run(threads: string, env: Record<string, string> = {}): { threads: number; xnnpack: number; pool: number; conv: number[]; mm: number[] } {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, PARTIALNET_THREADS: threads, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

const maxDiff = (p: number[], q: number[]) => p.reduce((m, v, i) => Math.max(m, Math.abs(v - q[i]!)), 0);

describe('threaded wasm', () => {
  it('with 2 threads runs our kernel pool on two and XNNPACK on one by default, computing what the single-threaded build does', () => {
    if (!distFresh) throw new Error('packages/core/dist is missing or older than src/: run `pnpm build` first');
    const one = run('1');
    const two = run('2');
    expect(one.threads).toBe(1);
    // what a step runs on, as the benchmarks print it
    expect(two.threads).toBe(2);
    expect(two.pool).toBe(2);
    expect(two.xnnpack).toBe(1);
    expect(two.conv.length).toBe(one.conv.length);
    // threads split the work, not the sums: the results agree to float32 rounding
    expect(maxDiff(one.conv, two.conv)).toBeLessThan(1e-4);
    expect(maxDiff(one.mm, two.mm)).toBeLessThan(1e-4);
  }, 240_000);

  it('10 threads asked for: our kernel pool runs 10 (past the binary pool of 8), XNNPACK 1 by default and at most 8 (PARTIALNET_XNNPACK_THREADS=12), same results', () => {
    if (!distFresh) throw new Error('packages/core/dist is missing or older than src/: run `pnpm build` first');
    const one = run('1');
    const ten = run('10');
    expect([ten.pool, ten.xnnpack, ten.threads]).toEqual([10, 1, 10]);
    expect(maxDiff(one.conv, ten.conv)).toBeLessThan(1e-4);
    expect(maxDiff(one.mm, ten.mm)).toBeLessThan(1e-4);
    const capped = run('10', { PARTIALNET_XNNPACK_THREADS: '12' });
    expect([capped.pool, capped.xnnpack]).toEqual([10, 8]);
    expect(maxDiff(one.conv, capped.conv)).toBeLessThan(1e-4);
  }, 240_000);

  it('PARTIALNET_XNNPACK_THREADS=2, or the kernel pool switched off, gives XNNPACK both threads, same results', () => {
    if (!distFresh) throw new Error('packages/core/dist is missing or older than src/: run `pnpm build` first');
    const one = run('1');
    for (const env of [{ PARTIALNET_XNNPACK_THREADS: '2' }, { PARTIALNET_KERNEL_POOL: '0' }]) {
      const r = run('2', env);
      expect(r.xnnpack, JSON.stringify(env)).toBe(2);
      expect(r.threads).toBe(2);
      expect(r.pool).toBe(env.PARTIALNET_KERNEL_POOL === '0' ? 1 : 2);
      expect(maxDiff(one.conv, r.conv)).toBeLessThan(1e-4);
      expect(maxDiff(one.mm, r.mm)).toBeLessThan(1e-4);
    }
  }, 240_000);
});
