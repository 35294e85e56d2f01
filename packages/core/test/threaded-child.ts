import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The threaded wasm build starts once per process, so the kernel-pool checks run `script` (an ES
 * module that imports the built package from `DIST_URL` and prints one JSON line last) in a child
 * node process with PARTIALNET_THREADS=2.
 */
export const DIST_URL = new URL('../dist/', import.meta.url);

/** Whether the built JavaScript of each `src/` file (paths below src/) is at least as new as its source. */
export function distFresh(srcFiles: readonly string[]): boolean {
  return srcFiles.every((f) => {
    const js = fileURLToPath(new URL(f.replace(/\.ts$/, '.js'), DIST_URL));
    return existsSync(js) && statSync(js).mtimeMs >= statSync(fileURLToPath(new URL(`../src/${f}`, import.meta.url))).mtimeMs;
  });
}

/** Runs `script` on two threads and returns what its last stdout line holds; refuses a stale build of `srcFiles`. */
export function runOnTwoThreads<T>(script: string, srcFiles: readonly string[]): T {
  if (!distFresh(srcFiles)) throw new Error('packages/core/dist is missing or older than src/: run `pnpm build` first');
  const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, PARTIALNET_THREADS: '2' },
    encoding: 'utf8',
    timeout: 180_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}
