import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBackends } from '@partialnet/core';

// The WebGPU suite, end to end through the built command line with `--backend webgpu`: a short
// RetinaNet and Mask R-CNN train -> eval -> predict, and DPConv classification (train-cls ->
// eval-cls). Runs wherever a WebGPU adapter can be used (CI: lavapipe with
// PARTIALNET_ALLOW_SOFTWARE_GPU=1); skipped visibly elsewhere. Tiny images and few iterations:
// a software adapter is slow.
const CLI = fileURLToPath(new URL('../apps/cli/dist/main.js', import.meta.url));
const gpu = (await listBackends()).find((p) => p.name === 'webgpu')!;
const suite = gpu.available ? 'WebGPU end to end (--backend webgpu)' : `WebGPU suite skipped: ${gpu.reason}`;

function ok(args: string[]): string {
  try {
    return execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PARTIALNET_BACKEND: 'webgpu' } });
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    throw new Error(`partialnet ${args.join(' ')} exited with ${err.status}:\n${err.stderr}\n${err.stdout}`);
  }
}

const jsonLines = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

const DETECTORS = {
  'retinanet-t0': {
    preset: 'retinanet-t0',
    model: { neck: { outChannels: 32 }, head: { featChannels: 32, stackedConvs: 1 } },
  },
  'mask-rcnn-t0': {
    preset: 'mask-rcnn-t0',
    model: {
      neck: { outChannels: 32 },
      rpn: { featChannels: 32, sampler: { num: 64 }, train: { nmsPre: 200, maxPerImg: 50, iouThr: 0.7 }, test: { nmsPre: 200, maxPerImg: 50, iouThr: 0.7 } },
      roi: { bbox: { fcChannels: 64, sampler: { num: 16 } }, mask: { convChannels: 16, numConvs: 1 }, test: { maxPerImg: 10 } },
    },
  },
} as const;

describe.skipIf(!gpu.available)(suite, () => {
  let dir: string;
  let data: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'partialnet-webgpu-e2e-'));
    data = join(dir, 'shapes');
    ok(['data', 'synth', '--out', data, '--images', '6', '--size', '64x64', '--val-fraction', '0.34', '--seed', '3']);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const [name, model] of Object.entries(DETECTORS)) {
    it(`${name}: train -> eval -> predict on webgpu, finite losses, no tensor growth, valid outputs`, () => {
      const run = join(dir, 'runs', name);
      const config = join(dir, `${name}.json`);
      writeFileSync(config, JSON.stringify({ ...model, scale: [64, 64], epochs: 2, batchSize: 2, lr: 5e-4, warmupIters: 1, logEvery: 1 }));
      const trainOut = ok(['train', '--config', config, '--data', data, '--out', run, '--eval-every', '2', '--no-progress']);
      expect(trainOut).toMatch(/backend webgpu/);
      const steps = jsonLines(join(run, 'log.jsonl')).filter((r) => r.type === 'train');
      expect(steps.map((r) => r.iter)).toEqual([1, 2, 3, 4]);
      for (const r of steps) expect(Number.isFinite(r.loss), `loss at ${r.iter}`).toBe(true);
      expect(new Set(steps.map((r) => r.numTensors)).size).toBe(1);

      const evalOut = ok(['eval', '--checkpoint', run, '--no-progress']);
      expect(evalOut).toContain('Evaluate annotation type *bbox*');
      if (name.startsWith('mask')) expect(evalOut).toContain('Evaluate annotation type *segm*');
      expect(existsSync(join(run, 'results.val.bbox.json'))).toBe(true);

      const preds = join(dir, `preds-${name}`);
      const predOut = ok(['predict', '--checkpoint', run, join(data, 'val'), '--out', preds, '--score', '0']);
      expect(predOut).toMatch(/2 image\(s\)/);
      const coco = JSON.parse(readFileSync(join(preds, 'predictions.json'), 'utf8')) as { images: unknown[]; annotations: { bbox: number[] }[] };
      expect(coco.images).toHaveLength(2);
      for (const a of coco.annotations) expect(a.bbox.every(Number.isFinite)).toBe(true);
    }, 900_000);
  }

  it('train-cls --dpconv -> eval-cls on webgpu: finite losses, learned splits, top-1 reported', () => {
    const cls = join(dir, 'cls');
    const run = join(dir, 'runs', 'cls');
    ok(['data', 'synth-cls', '--out', cls, '--per-class', '2', '--val-per-class', '1', '--size', '32', '--seed', '1']);
    const out = ok(['train-cls', '--data', cls, '--out', run, '--dpconv', '--epochs', '1', '--batch', '4', '--size', '32', '--embed-dim', '16', '--depths', '1,1,1,1', '--eval-every', '1', '--no-progress']);
    expect(out).toMatch(/backend webgpu/);
    expect(out).toMatch(/learned splits/);
    const steps = jsonLines(join(run, 'log.jsonl')).filter((r) => r.type === 'train');
    expect(steps.length).toBeGreaterThan(0);
    for (const r of steps) expect(Number.isFinite(r.loss)).toBe(true);
    const splits = JSON.parse(readFileSync(join(run, 'splits.json'), 'utf8')) as { cDiv: number }[];
    expect(splits).toHaveLength(4);
    const evalOut = JSON.parse(ok(['eval-cls', '--checkpoint', run, '--data', cls, '--json'])) as { top1: number; images: number };
    expect(evalOut.images).toBe(6);
    expect(evalOut.top1).toBeGreaterThanOrEqual(0);
    expect(evalOut.top1).toBeLessThanOrEqual(100);
  }, 900_000);
});
