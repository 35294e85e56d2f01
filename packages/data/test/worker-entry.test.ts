import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { workerEntry } from '../src/internals.js';

const run = promisify(execFile);
const distPool = fileURLToPath(new URL('../dist/pool.js', import.meta.url));
const srcPool = fileURLToPath(new URL('../src/pool.ts', import.meta.url));
const distFresh = existsSync(distPool) && statSync(distPool).mtimeMs >= statSync(srcPool).mtimeMs;

describe('worker entry', () => {
  it('under TypeScript sources, starts the JS shim that loads src/worker.ts', () => {
    const e = workerEntry();
    expect(e.url.pathname.endsWith('/scripts/ts-worker.mjs')).toBe(true);
    expect(existsSync(fileURLToPath(e.url))).toBe(true);
    expect(String(e.workerData.__entry)).toMatch(/\/src\/worker\.ts$/);
    expect(existsSync(fileURLToPath(String(e.workerData.__entry)))).toBe(true);
    expect(e.execArgv).toContain('--conditions=@partialnet/source');
  });

  // The built package (plain node, no vitest, no shim). `pnpm test` builds first.
  it('from dist/, plain node runs a 1-worker loader and exits cleanly', async () => {
    if (!distFresh) throw new Error('packages/data/dist is missing or older than src/: run `pnpm build` first');
    const script = `
      import { DataLoader, writeShapesDataset, openCocoDir, trainPipeline } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
      import { workerEntry } from ${JSON.stringify(new URL('../dist/internals.js', import.meta.url).href)};
      import { mkdtempSync } from 'node:fs'; import { tmpdir } from 'node:os'; import { join } from 'node:path';
      const dir = mkdtempSync(join(tmpdir(), 'pn-dist-'));
      await writeShapesDataset(dir, { images: 4, width: 64, height: 48, seed: 1 });
      const { dataset } = await openCocoDir(dir, 'train');
      const loader = new DataLoader(dataset, { batchSize: 2, pipeline: trainPipeline({ scale: [96, 64] }), workers: 1 });
      let n = 0; for await (const b of loader.epoch(0)) n += b.shape[0];
      await loader.close();
      console.log(JSON.stringify({ n, entry: workerEntry().url.pathname }));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 });
    const out = JSON.parse(stdout.trim().split('\n').pop()!) as { n: number; entry: string };
    expect(out.n).toBe(3);
    expect(out.entry.endsWith('/dist/worker.js')).toBe(true);
  });
});
