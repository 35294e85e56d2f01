import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onnxRuntimeAvailable } from '@partialnet/core';

// The built command line, as a user runs it (`pnpm test` builds first).
const CLI = fileURLToPath(new URL('../apps/cli/dist/main.js', import.meta.url));

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function partialnet(args: string[]): Run {
  try {
    const stdout = execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PARTIALNET_BACKEND: 'wasm' } });
    return { status: 0, stdout, stderr: '' };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { status: err.status, stdout: err.stdout, stderr: err.stderr };
  }
}

function ok(args: string[]): string {
  const r = partialnet(args);
  if (r.status !== 0) throw new Error(`partialnet ${args.join(' ')} exited with ${r.status}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

const onnxAvailable = await onnxRuntimeAvailable();
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as unknown;
const jsonLines = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

/**
 * Mask R-CNN-T0 with narrow heads, few proposals and RoIs: every part of the model and the
 * pipeline runs (RPN sampling, RoIAlign, mask targets, paste-back, RLE, COCOeval) in seconds.
 */
const TINY_CONFIG = {
  preset: 'mask-rcnn-t0',
  model: {
    neck: { outChannels: 32 },
    rpn: { featChannels: 32, sampler: { num: 64 }, train: { nmsPre: 200, maxPerImg: 50, iouThr: 0.7 }, test: { nmsPre: 200, maxPerImg: 50, iouThr: 0.7 } },
    roi: { bbox: { fcChannels: 64, sampler: { num: 16 } }, mask: { convChannels: 16, numConvs: 1 }, test: { maxPerImg: 10 } },
  },
  scale: [128, 128],
  epochs: 2,
  batchSize: 2,
  lr: 5e-4,
  warmupIters: 2,
  logEvery: 1,
};

describe('detection end to end: data synth -> train -> eval -> resume -> predict', () => {
  let dir: string;
  let data: string;
  let run: string;
  let config: string;
  let trainOut: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'partialnet-det-e2e-'));
    data = join(dir, 'shapes');
    run = join(dir, 'runs', 'tiny');
    config = join(dir, 'tiny.json');
    writeFileSync(config, JSON.stringify(TINY_CONFIG, null, 2));
    ok(['data', 'synth', '--out', data, '--images', '12', '--size', '128x128', '--val-fraction', '0.34', '--seed', '2']);
    trainOut = ok(['train', '--config', config, '--data', data, '--out', run, '--checkpoint-every', '2', '--eval-every', '2', '--no-progress']);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('train logs finite losses without tensor growth, checkpoints, evaluates and draws the curve', () => {
    expect(trainOut).toMatch(/train: mask-rcnn-t0 .* 8 train \/ 4 val images, 6 classes, scale 128x128, batch 2, 2 epochs \(8 iters\)/);
    expect(trainOut).toMatch(/val AP \(4 images/);
    expect(trainOut).toMatch(/^bbox +-?\d\.\d{3}/m);
    expect(trainOut).toMatch(/^segm +-?\d\.\d{3}/m);
    const log = jsonLines(join(run, 'log.jsonl'));
    const steps = log.filter((r) => r.type === 'train');
    expect(steps.map((r) => r.iter)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const r of steps) {
      for (const k of ['loss', 'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask', 'lr', 'imgPerSec']) expect(Number.isFinite(r[k]), `${k} at ${r.iter}`).toBe(true);
    }
    // Tensors alive after each step: constant from the first step on (no leak in model, data or optimizer).
    expect(new Set(steps.map((r) => r.numTensors)).size).toBe(1);
    const evals = log.filter((r) => r.type === 'eval');
    expect(evals.map((r) => r.iter)).toEqual([8]);
    for (const k of ['bbox_mAP', 'bbox_mAP_50', 'segm_mAP', 'segm_mAP_50']) expect(Number.isFinite(evals[0]![k])).toBe(true);
    expect(readdirSync(join(run, 'checkpoints')).sort()).toEqual(['iter_0000004', 'iter_0000006', 'iter_0000008', 'latest.json']);
    const state = readJson(join(run, 'checkpoints', 'iter_0000008', 'state.json')) as { extra: { task: string; config: { model: { kind: string; numClasses: number } }; classNames: string[] } };
    expect(state.extra.task).toBe('detection');
    expect(state.extra.config.model).toMatchObject({ kind: 'mask-rcnn', numClasses: 6 });
    expect(state.extra.classNames).toHaveLength(6);
    expect([...readFileSync(join(run, 'curve.png')).subarray(0, 4)]).toEqual([137, 80, 78, 71]);
    expect(readdirSync(run).filter((n) => n.startsWith('events.out.tfevents.'))).toHaveLength(1);
  });

  it('train refuses an --out that holds a run unless --resume or --overwrite, and leaves it untouched', () => {
    const log = readFileSync(join(run, 'log.jsonl'), 'utf8');
    const again = partialnet(['train', '--config', config, '--data', data, '--out', run, '--no-progress']);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/run folder is not empty.*--resume.*--overwrite/s);
    expect(readFileSync(join(run, 'log.jsonl'), 'utf8')).toBe(log);
  });

  it('eval writes valid COCO results and prints the 12-line summaries and per-class AP', () => {
    rmSync(join(run, 'results.val.bbox.json'));
    const out = ok(['eval', '--checkpoint', run, '--no-progress']);
    for (const t of ['bbox', 'segm']) {
      expect(out).toContain(`Evaluate annotation type *${t}*`);
      const results = readJson(join(run, `results.val.${t}.json`)) as Record<string, unknown>[];
      expect(Array.isArray(results)).toBe(true);
      for (const r of results) {
        expect(Number.isInteger(r.image_id)).toBe(true);
        expect(r.category_id as number).toBeGreaterThanOrEqual(1);
        expect(r.category_id as number).toBeLessThanOrEqual(6);
        expect((r.bbox as number[]).every(Number.isFinite)).toBe(true);
        expect(r.score as number).toBeGreaterThan(0.05);
        if (t === 'segm') expect(r.segmentation).toMatchObject({ size: [128, 128], counts: expect.any(String) });
      }
    }
    expect(out.match(/Average Precision {2}\(AP\) @\[ IoU=0\.50:0\.95 \| area= {3}all \| maxDets=100 \] = -?\d\.\d{3}/g)).toHaveLength(2);
    expect(out.match(/^ Average Recall/gm)).toHaveLength(12);
    expect(out).toMatch(/^category +id +AP +AP50/m);
    expect(out).toMatch(/^circle +1 /m);
    const metrics = readJson(join(run, 'metrics.val.json')) as { bbox: { stats: number[] }; segm: { stats: number[] } };
    for (const t of ['bbox', 'segm'] as const) {
      expect(metrics[t].stats).toHaveLength(12);
      expect(metrics[t].stats.every((v) => Number.isFinite(v) && v >= -1 && v <= 1)).toBe(true);
    }
  });

  it.skipIf(!onnxAvailable)('export onnx --checkpoint, then eval --runtime onnx gives the tfjs numbers to 3 decimals (onnxruntime-node installed)', () => {
    const file = join(dir, 'tiny.onnx');
    expect(ok(['export', 'onnx', '--checkpoint', run, '--out', file])).toMatch(/tiny\.onnx: .* outputs p2, rpn_cls_p2, rpn_reg_p2/);
    const onnxOut = join(dir, 'eval-onnx');
    const out = ok(['eval', '--checkpoint', run, '--runtime', 'onnx', '--onnx', file, '--threads', '1', '--out', onnxOut, '--no-progress']);
    expect(out).toMatch(/onnxruntime-node [\d.]+ \(cpu, 1 threads\), post-processing on wasm/);
    const tfjs = readJson(join(run, 'metrics.val.json')) as { bbox: { stats: number[] }; segm: { stats: number[] } };
    const onnx = readJson(join(onnxOut, 'metrics.val.json')) as typeof tfjs;
    for (const t of ['bbox', 'segm'] as const) expect(onnx[t].stats.map((v) => v.toFixed(3)), t).toEqual(tfjs[t].stats.map((v) => v.toFixed(3)));
    const tfjsResults = readJson(join(run, 'results.val.bbox.json')) as unknown[];
    expect((readJson(join(onnxOut, 'results.val.bbox.json')) as unknown[]).length).toBe(tfjsResults.length);
  });

  it('--resume continues an interrupted run to the same weights', () => {
    // The run as it stood after iteration 4 (end of epoch 1 of 2).
    const cut = join(dir, 'runs', 'cut');
    mkdirSync(join(cut, 'checkpoints'), { recursive: true });
    cpSync(join(run, 'checkpoints', 'iter_0000004'), join(cut, 'checkpoints', 'iter_0000004'), { recursive: true });
    writeFileSync(join(cut, 'checkpoints', 'latest.json'), JSON.stringify({ checkpoint: 'iter_0000004', iter: 4 }));
    const out = ok(['train', '--resume', '--out', cut, '--eval-every', '0', '--no-progress']);
    expect(out).toMatch(/resumed from .*iter_0000004/);
    expect(jsonLines(join(cut, 'log.jsonl')).filter((r) => r.type === 'train').map((r) => r.iter)).toEqual([5, 6, 7, 8]);
    const a = readFileSync(join(run, 'checkpoints', 'iter_0000008', 'model.safetensors'));
    const b = readFileSync(join(cut, 'checkpoints', 'iter_0000008', 'model.safetensors'));
    expect(b.equals(a)).toBe(true);
  });

  it('predict draws PNGs and writes COCO-format predictions', () => {
    const preds = join(dir, 'preds');
    const out = ok(['predict', '--checkpoint', run, join(data, 'val'), join(data, 'train', '000001.jpg'), '--out', preds, '--score', '0']);
    expect(out).toMatch(/5 image\(s\)/);
    const pngs = readdirSync(preds).filter((f) => f.endsWith('.png'));
    expect(pngs).toHaveLength(5);
    expect([...readFileSync(join(preds, pngs[0]!)).subarray(0, 4)]).toEqual([137, 80, 78, 71]);
    const coco = readJson(join(preds, 'predictions.json')) as { images: { id: number }[]; categories: unknown[]; annotations: { image_id: number; bbox: number[]; score: number }[] };
    expect(coco.images).toHaveLength(5);
    expect(coco.categories).toHaveLength(6);
    for (const a of coco.annotations) {
      expect(coco.images.some((i) => i.id === a.image_id)).toBe(true);
      expect(a.bbox).toHaveLength(4);
    }
  });

  it('bad inputs fail with the file and field named', () => {
    const missing = partialnet(['train', '--preset', 'retinanet-t0', '--data', join(dir, 'nope'), '--out', join(dir, 'x')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`${join(dir, 'nope')}: data folder not found`);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ preset: 'retinanet-t0', epochs: 0, model: { head: { stackedConvz: 1 } } }));
    const badRun = partialnet(['train', '--config', bad, '--data', data, '--out', join(dir, 'y')]);
    expect(badRun.status).toBe(1);
    expect(badRun.stderr).toMatch(/model\.head\.stackedConvz: unknown field/);
    const usage = partialnet(['train', '--preset', 'yolo-t0', '--data', data, '--out', join(dir, 'z')]);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/unknown preset 'yolo-t0'/);
    const notRun = partialnet(['eval', '--checkpoint', data]);
    expect(notRun.status).toBe(1);
    expect(notRun.stderr).toMatch(/not a run folder/);
    expect(existsSync(join(dir, 'x', 'checkpoints'))).toBe(false);
  });

  it('train --list-presets and bench detection', () => {
    const presets = ok(['train', '--list-presets']);
    expect(presets).toMatch(/^retinanet-t0 +RetinaNet, FPN P3-P7 \(256 ch\), PartialNet-T0 backbone$/m);
    expect(presets).toMatch(/^mask-rcnn-s +Mask R-CNN, FPN P2-P6 \(256 ch\), 512 RoIs, 1024-d box head, PartialNet-S backbone$/m);
    const lines = ok(['bench', 'detection', '--preset', 'retinanet-t0', '--size', '64', '--batch', '1', '--iters', '1', '--warmup', '0', '--warmup-seconds', '0', '--min-seconds', '0', '--classes', '3'])
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.mode)).toEqual(['train', 'infer']);
    for (const l of lines) {
      expect(l).toMatchObject({ bench: 'detection', preset: 'retinanet-t0', size: 64, batch: 1, backend: 'wasm' });
      expect(l.msPerIter as number).toBeGreaterThan(0);
      expect(l.imgPerSec as number).toBeGreaterThan(0);
    }
  });
});
