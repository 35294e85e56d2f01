// Benchmark of @partialnet/coco (run from the built dist/): `pnpm --filter @partialnet/coco bench [-- options]`.
// Each run is its own process so that its peak RSS is its own. Prints one JSON line per task.
//   --only bbox|segm|big   one task (default: bbox and segm; --big adds load-big)
//   --repeat N             runs of each side per task (default 3 for segm, 1 for bbox); medians are reported
//   --pycocotools DIR      folder holding the pycocotools package (or $PYCOCOTOOLS_PATH); --python PATH (or $PYTHON)
//   --no-reference         ours only
// When a python with pycocotools is found, bbox and segm also run pycocotools-reference.py on the same
// files, alternating with ours, and print its medians and the speedups (wall and CPU) next to ours.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeProblem, mulberry32, polygonIn, writeBigInstances } from './generate.mjs';

const args = process.argv.slice(2);
const opt = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const task = opt('--task') ?? null;
const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version };
const mb = (b) => Math.round(b / 1048576);
const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);
const SIZES = { bbox: 5000, segm: 500 };

async function writeProblem(iouType, dir) {
  const lib = await import('../dist/index.js');
  const { dataset, results } = makeProblem({ seed: 1, nImages: SIZES[iouType], withMasks: iouType === 'segm' });
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
  const gtPath = join(dir, `${iouType}-gt.json`);
  const resPath = join(dir, `${iouType}-results.json`);
  writeFileSync(gtPath, JSON.stringify(dataset));
  writeFileSync(resPath, JSON.stringify(res));
  return { gtPath, resPath };
}

/** Our whole command on files already written: load gt, load results, evaluate, accumulate, summarize. */
async function runEval(iouType, gtPath, resPath) {
  const lib = await import('../dist/index.js');
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
    stats: s.stats,
    peak_rss_mb: peakRssMb(),
    heap_used_mb: mb(process.memoryUsage().heapUsed),
  };
}

/**
 * A python that imports pycocotools (with --pycocotools DIR on its path), or null and why not.
 * Tries --python, $PYTHON, python3 on the PATH and /usr/bin/python3 (Debian's, with its numpy).
 */
function findPycocotools() {
  const dir = opt('--pycocotools') ?? process.env.PYCOCOTOOLS_PATH ?? null;
  const candidates = [opt('--python'), process.env.PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean);
  const env = { ...process.env, ...(dir ? { PYTHONPATH: [dir, process.env.PYTHONPATH].filter(Boolean).join(':') } : {}) };
  const tried = [];
  for (const py of [...new Set(candidates)]) {
    const r = spawnSync(py, ['-c', 'import numpy, pycocotools.cocoeval, pycocotools._mask'], { env, encoding: 'utf8' });
    if (r.status === 0) return { python: py, dir, env };
    tried.push(`${py}: ${r.error ? r.error.code : (r.stderr.trim().split('\n').pop() ?? 'failed')}`);
  }
  return { unavailable: `no python with pycocotools (${tried.join('; ')}); pass --pycocotools DIR and/or --python PATH` };
}

function runReference(ref, iouType, gtPath, resPath) {
  const script = fileURLToPath(new URL('./pycocotools-reference.py', import.meta.url));
  const args = [script, '--gt', gtPath, '--results', resPath, '--iou-type', iouType];
  if (ref.dir) args.push('--pycocotools', ref.dir);
  const r = spawnSync(ref.python, args, { env: ref.env, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`pycocotools-reference.py failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

/**
 * Ours and pycocotools on the same files, alternating (and alternating which goes first), repeats
 * times each; one JSON line with medians and the ratios of the medians (wall and CPU).
 */
async function compare(iouType, ref, repeats, runOurs) {
  const dir = mkdtempSync(join(tmpdir(), 'coco-bench-'));
  try {
    const { gtPath, resPath } = await writeProblem(iouType, dir);
    const ours = [];
    const theirs = [];
    for (let r = 0; r < repeats; r++) {
      const order = r % 2 === 0 ? ['ours', 'ref'] : ['ref', 'ours'];
      for (const who of order) {
        if (who === 'ours') ours.push(runOurs(iouType, gtPath, resPath));
        else if (ref.python) theirs.push(runReference(ref, iouType, gtPath, resPath));
      }
    }
    // the run whose wall time is the median stands for the per-step figures
    const mid = [...ours].sort((a, b) => a.total_ms - b.total_ms)[(ours.length - 1) >> 1];
    const { stats, ...line } = mid;
    line.repeats = repeats;
    line.total_ms = +median(ours.map((o) => o.total_ms)).toFixed(1);
    line.total_cpu_ms = median(ours.map((o) => o.total_cpu_ms));
    line.total_ms_runs = ours.map((o) => o.total_ms);
    if (ref.python) {
      const p = theirs[(theirs.length - 1) >> 1];
      line.pycocotools = {
        total_ms: +median(theirs.map((t) => t.total_ms)).toFixed(1),
        total_cpu_ms: median(theirs.map((t) => t.total_cpu_ms)),
        total_ms_runs: theirs.map((t) => t.total_ms),
        steps_ms: { load_gt: p.load_gt_ms, load_results: p.load_results_ms, evaluate: p.evaluate_ms, accumulate: p.accumulate_ms, summarize: p.summarize_ms },
        python: p.python,
        numpy: p.numpy,
        same_stats: theirs.every((t) => JSON.stringify(t.stats) === JSON.stringify(stats)),
      };
      line.speedup_wall = +(line.pycocotools.total_ms / line.total_ms).toFixed(2);
      line.speedup_cpu = +(line.pycocotools.total_cpu_ms / line.total_cpu_ms).toFixed(2);
    } else {
      line.pycocotools = ref.unavailable;
    }
    line.machine = machine;
    return line;
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

if (task === 'eval') console.log(JSON.stringify(await runEval(args[args.indexOf('--task') + 2], args[args.indexOf('--task') + 3], args[args.indexOf('--task') + 4])));
else if (task === 'load-big') console.log(JSON.stringify(await runLoadBig(args[args.indexOf('--task') + 2])));
else {
  const self = fileURLToPath(import.meta.url);
  const child = (...a) => execFileSync(process.execPath, [self, '--task', ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const only = opt('--only') ?? null;
  const ref = args.includes('--no-reference') ? { unavailable: 'not run (--no-reference)' } : findPycocotools();
  const runOurs = (iouType, gtPath, resPath) => JSON.parse(child('eval', iouType, gtPath, resPath));
  for (const iouType of ['bbox', 'segm']) {
    if (only && only !== iouType) continue;
    const repeats = Number(opt('--repeat') ?? (iouType === 'segm' ? 3 : 1));
    console.log(JSON.stringify(await compare(iouType, ref, repeats, runOurs)));
  }
  if (args.includes('--big') || only === 'big') {
    const dir = mkdtempSync(join(tmpdir(), 'coco-bench-big-'));
    try {
      const path = join(dir, 'instances_big.json');
      const t0 = performance.now();
      writeBigInstances(path);
      console.error(`wrote ${mb(statSync(path).size)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      process.stdout.write(child('load-big', path));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
