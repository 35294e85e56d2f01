// Benchmark of @partialnet/coco (run from the built dist/): `pnpm --filter @partialnet/coco bench [-- --big]`.
// Each task runs in its own process so that its peak RSS is its own. Prints one JSON line per task.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeProblem, mulberry32, polygonIn, writeBigInstances } from './generate.mjs';

const args = process.argv.slice(2);
const task = args.includes('--task') ? args[args.indexOf('--task') + 1] : null;
const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version };
const mb = (b) => Math.round(b / 1048576);
const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

async function runEval(iouType, nImages) {
  const lib = await import('../dist/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'coco-bench-'));
  try {
    const { dataset, results } = makeProblem({ seed: 1, nImages, withMasks: iouType === 'segm' });
    let res = results;
    if (iouType === 'segm') {
      const byId = new Map(dataset.images.map((im) => [im.id, im]));
      const rand = mulberry32(2);
      res = results.map((r) => {
        const im = byId.get(r.image_id);
        const [x, y, w, h] = r.bbox;
        const poly = polygonIn(rand, x, y, Math.min(w, im.width - x), Math.min(h, im.height - y), 12);
        const [rle] = lib.frPoly([poly], im.height, im.width);
        return { image_id: r.image_id, category_id: r.category_id, segmentation: rle, score: r.score };
      });
    }
    const gtPath = join(dir, 'gt.json');
    const resPath = join(dir, 'results.json');
    writeFileSync(gtPath, JSON.stringify(dataset));
    writeFileSync(resPath, JSON.stringify(res));
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const gt = await lib.loadInstances(gtPath);
    const t1 = performance.now();
    const dt = await lib.loadResults(gt, resPath);
    const t2 = performance.now();
    const E = new lib.COCOeval(gt, dt, iouType);
    E.evaluate();
    E.accumulate();
    const s = E.summarize();
    const t3 = performance.now();
    const cpu = process.cpuUsage(c0);
    return {
      bench: 'coco',
      task: iouType,
      workload: { images: gt.images.length, gt: gt.annotations.count, detections: dt.count, categories: gt.categories.length, gt_mb: mb(statSync(gtPath).size), results_mb: mb(statSync(resPath).size) },
      load_gt_ms: +(t1 - t0).toFixed(1),
      load_results_ms: +(t2 - t1).toFixed(1),
      evaluate_ms: +E.timings.evaluateMs.toFixed(1),
      accumulate_ms: +E.timings.accumulateMs.toFixed(1),
      summarize_ms: +E.timings.summarizeMs.toFixed(1),
      total_ms: +(t3 - t0).toFixed(1),
      total_cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
      AP: +s.stats[0].toFixed(4),
      peak_rss_mb: peakRssMb(),
      heap_used_mb: mb(process.memoryUsage().heapUsed),
      machine,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runLoadBig(path) {
  const lib = await import('../dist/index.js');
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const gt = await lib.loadInstances(path);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  return {
    bench: 'coco',
    task: 'load-big',
    workload: { file_mb: mb(statSync(path).size), images: gt.images.length, annotations: gt.annotations.count, polygon_store_mb: mb(gt.annotations.polygons.bytes) },
    load_ms: +ms.toFixed(1),
    load_cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
    peak_rss_mb: peakRssMb(),
    heap_used_mb: mb(process.memoryUsage().heapUsed),
    heap_limit_mb: mb((await import('node:v8')).getHeapStatistics().heap_size_limit),
    machine,
  };
}

if (task === 'bbox') console.log(JSON.stringify(await runEval('bbox', 5000)));
else if (task === 'segm') console.log(JSON.stringify(await runEval('segm', 500)));
else if (task === 'load-big') console.log(JSON.stringify(await runLoadBig(args[args.indexOf('--task') + 2])));
else {
  const self = fileURLToPath(import.meta.url);
  const run = (...a) => process.stdout.write(execFileSync(process.execPath, [self, '--task', ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : null;
  if (!only || only === 'bbox') run('bbox');
  if (!only || only === 'segm') run('segm');
  if (args.includes('--big') || only === 'big') {
    const dir = mkdtempSync(join(tmpdir(), 'coco-bench-big-'));
    try {
      const path = join(dir, 'instances_big.json');
      const t0 = performance.now();
      writeBigInstances(path);
      console.error(`wrote ${mb(statSync(path).size)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      run('load-big', path);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
