// The sigmoid focal loss alone, forward + backward, on the wasm backend (run from the built dist/):
//   node packages/detection/bench/focal-loss.mjs [--rows N] [--classes K] [--iters N] [--threads N]
// sigmoidFocalLossByLabels as RetinaNet calls it (host labels, per-row weights, pieces of 16k rows),
// with core's fused kernels and, in the same process and alternating, with the tfjs composite
// (the kernels unregistered). Prints one JSON line per side: wall and CPU ms per forward + backward,
// the ratio, and each side's loss against a float64 evaluation on the host. Default [49104, 80]: one 512x512 image's anchors (RetinaNet's five levels, 9 per
// location) and COCO's 80 classes.
import { cpus } from 'node:os';

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const rows = opt('--rows', 49104);
const classes = opt('--classes', 80);
const iters = opt('--iters', 5);
const threads = opt('--threads', undefined);
if (threads !== undefined) process.env.PARTIALNET_THREADS = String(threads);

const core = await import('@partialnet/core');
const { tf, setupBackend } = core;
const { sigmoidFocalLossByLabels } = await import('../dist/losses.js');
const kernels = await import(new URL('../../core/dist/ops/sigmoid-losses.js', import.meta.url).href);
const { wasmSimdKernelsActive } = await import(new URL('../../core/dist/runtime/wasm-kernels.js', import.meta.url).href);
const report = await setupBackend('wasm');

let seed = 1;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const x = tf.tensor2d(Float32Array.from({ length: rows * classes }, () => (rand() - 0.5) * 10 - 3), [rows, classes]);
// ~1% positives, ~10% ignored (weight 0), the rest background: RetinaNet's proportions
const labels = Int32Array.from({ length: rows }, () => (rand() < 0.01 ? Math.floor(rand() * classes) : classes));
const weights = Float32Array.from({ length: rows }, () => (rand() < 0.1 ? 0 : 1));
const numPos = Math.max(1, labels.filter((c) => c < classes).length);

/** The loss in float64 on the host (what both sides' float32 values are off by is printed). */
function float64Loss() {
  const xs = x.dataSync();
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    if (weights[r] === 0) continue;
    for (let c = 0; c < classes; c++) {
      const v = xs[r * classes + c];
      const t = labels[r] === c ? 1 : 0;
      const p = 1 / (1 + Math.exp(-v));
      const pt = t ? 1 - p : p;
      const bce = Math.max(v, 0) - v * t + Math.log1p(Math.exp(-Math.abs(v)));
      sum += bce * (t ? 0.25 : 0.75) * pt * pt * weights[r];
    }
  }
  return sum / numPos;
}
const reference = float64Loss();

const step = () => {
  const { value, grads } = tf.variableGrads(() => sigmoidFocalLossByLabels(v, labels, weights, numPos), [v]);
  // wasm runs kernels synchronously: the gradient is complete here, and reading it (15 MB) would time a copy
  const out = [value.dataSync()[0]];
  tf.dispose([value, grads]);
  return out;
};
const v = tf.variable(x);

function time() {
  step(); // warm-up
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let out;
  for (let i = 0; i < iters; i++) out = step();
  const cpu = process.cpuUsage(c0);
  return { ms: (performance.now() - t0) / iters, cpuMs: (cpu.user + cpu.system) / 1000 / iters, loss: out[0] };
}

const common = { bench: 'focal-loss', rows, classes, threads: report.wasm?.threads ?? 1, simd: wasmSimdKernelsActive(), machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version } };
const sides = { fused: [], composite: [] };
// alternate the two sides, three rounds, and keep each side's best (the machine may be shared)
for (let round = 0; round < 3; round++) {
  kernels.registerSigmoidLossKernels(wasmSimdKernelsActive);
  sides.fused.push(time());
  kernels.unregisterSigmoidLossKernels();
  sides.composite.push(time());
}
kernels.registerSigmoidLossKernels(wasmSimdKernelsActive);
const best = (list) => list.reduce((a, b) => (b.cpuMs < a.cpuMs ? b : a));
const [fused, composite] = [best(sides.fused), best(sides.composite)];
const r2 = (n) => Math.round(n * 100) / 100;
const relErr = (v) => Number(((v - reference) / reference).toPrecision(2));
console.log(JSON.stringify({ ...common, side: 'composite', msPerIter: r2(composite.ms), cpuMsPerIter: r2(composite.cpuMs), loss: composite.loss, float64: reference, relErr: relErr(composite.loss) }));
console.log(JSON.stringify({ ...common, side: 'fused', msPerIter: r2(fused.ms), cpuMsPerIter: r2(fused.cpuMs), loss: fused.loss, relErr: relErr(fused.loss), speedupWall: r2(composite.ms / fused.ms), speedupCpu: r2(composite.cpuMs / fused.cpuMs) }));
tf.dispose([x, v]);
core.closeKernelPools();
