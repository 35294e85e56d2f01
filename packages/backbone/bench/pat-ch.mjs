// One PAT_ch block (training mode: partial 3x3 conv, channel attention, BatchNorm), forward +
// backward, on the wasm backend (run from the built dist/ after `pnpm build`):
//   node packages/backbone/bench/pat-ch.mjs [--shape N,H,W,C] [--iters N] [--threads N] [--t0]
// With core's fused channelStyle / channelGate kernels and, in the same process and alternating,
// with their tfjs composite (the kernels unregistered): the before/after of ops/channel-style.ts.
// Also the two ops alone (style and gate of the block's untouched channels, forward + backward),
// and with --t0 PartialNet-T0's training step (AdamW, as `bench backbone --train`) and fused
// inference at batch N, 224x224, alternating iteration by iteration. Prints one JSON line per
// side with wall and CPU ms per iteration (best of three alternating rounds, or the median of the
// alternating T0 iterations: the machine may be shared) and the ratio. Default [16, 14, 14, 128]:
// T0's third stage at batch 16, 224x224 (the block's attention sees 96 channels).
import { cpus } from 'node:os';

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const shape = opt('--shape', '16,14,14,128').split(',').map(Number);
const iters = Number(opt('--iters', 10));
const t0 = args.includes('--t0');
const threads = opt('--threads', undefined);
if (threads !== undefined) process.env.PARTIALNET_THREADS = String(threads);

const core = await import('@partialnet/core');
const { tf, setupBackend, channelStyle, channelGate } = core;
const { PatChannel } = await import('../dist/layers.js');
const kernels = await import(new URL('../../core/dist/ops/channel-style.js', import.meta.url).href);
const report = await setupBackend('wasm');

const block = new PatChannel(shape[3], 4, false);
block.train();
const x = tf.variable(tf.randomNormal(shape, 0, 1, 'float32', 1));
const probe = tf.randomNormal(shape, 0, 1, 'float32', 2);
const rest = block.dim - block.convChannels;
const restShape = [shape[0], shape[1], shape[2], rest];
const r = tf.variable(tf.randomNormal(restShape, 0, 1, 'float32', 3));
const gate = tf.variable(tf.randomUniform([shape[0], rest], 0, 1, 'float32', 4));
const restProbe = tf.randomNormal(restShape, 0, 1, 'float32', 5);
const styleProbe = tf.randomNormal([shape[0], 2 * rest], 0, 1, 'float32', 6);

const blockStep = () => {
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(block.forward(x), probe)), [x, ...block.parameters()]);
  tf.dispose([value, grads]);
};
const opsStep = () => {
  const { value, grads } = tf.variableGrads(() => tf.add(tf.sum(tf.mul(channelStyle(r), styleProbe)), tf.sum(tf.mul(channelGate(r, gate), restProbe))), [r, gate]);
  tf.dispose([value, grads]);
};

function time(step) {
  step(); // warm-up
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < iters; i++) step();
  const cpu = process.cpuUsage(c0);
  return { ms: (performance.now() - t0) / iters, cpuMs: (cpu.user + cpu.system) / 1000 / iters };
}

const common = { bench: 'pat-ch', shape, attnChannels: rest, iters, threads: report.wasm?.threads ?? 1, machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version } };
const r2 = (n) => Math.round(n * 100) / 100;
for (const [what, step] of [
  ['block', blockStep],
  ['ops', opsStep],
]) {
  const sides = { fused: [], composite: [] };
  for (let round = 0; round < 3; round++) {
    kernels.registerChannelStyleKernels();
    sides.fused.push(time(step));
    kernels.unregisterChannelStyleKernels();
    sides.composite.push(time(step));
  }
  kernels.registerChannelStyleKernels();
  const best = (list) => list.reduce((a, b) => (b.ms < a.ms ? b : a));
  const [fused, composite] = [best(sides.fused), best(sides.composite)];
  console.log(JSON.stringify({ ...common, what, side: 'composite', msPerIter: r2(composite.ms), cpuMsPerIter: r2(composite.cpuMs) }));
  console.log(JSON.stringify({ ...common, what, side: 'fused', msPerIter: r2(fused.ms), cpuMsPerIter: r2(fused.cpuMs), speedupWall: r2(composite.ms / fused.ms) }));
}
if (t0) {
  const { PartialNet } = await import('../dist/index.js');
  const net = PartialNet.create('t0', { numClasses: 1000 });
  const fusedNet = await net.fuse();
  const batch = shape[0];
  const input = tf.randomNormal([batch, 224, 224, 3], 0, 1, 'float32', 7);
  const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 1000), 'int32');
  net.train();
  const optimizer = new core.AdamW([{ params: net.parameters() }], { lr: 1e-4, weightDecay: 0.05 });
  const trainStep = () => {
    const { value, grads } = tf.variableGrads(() => core.crossEntropy(net.forward(input), labels, 0.1), net.parameters());
    optimizer.step(grads);
    value.dataSync();
    tf.dispose([value, grads]);
  };
  const inferStep = () => {
    const y = fusedNet.forward(input);
    y.dataSync();
    y.dispose();
  };
  const once = (step) => {
    const w0 = performance.now();
    const c0 = process.cpuUsage();
    step();
    const cpu = process.cpuUsage(c0);
    return { ms: performance.now() - w0, cpuMs: (cpu.user + cpu.system) / 1000 };
  };
  const median = (list, key) => [...list].map((t) => t[key]).sort((a, b) => a - b)[Math.floor(list.length / 2)];
  for (const [what, step] of [
    ['t0-train-step', trainStep],
    ['t0-infer-fused', inferStep],
  ]) {
    const sides = { fused: [], composite: [] };
    for (let i = -1; i < iters; i++) {
      kernels.registerChannelStyleKernels();
      const f = once(step);
      kernels.unregisterChannelStyleKernels();
      const c = once(step);
      // the first pair warms up
      if (i >= 0) sides.fused.push(f), sides.composite.push(c);
    }
    kernels.registerChannelStyleKernels();
    const [fMs, cMs] = [median(sides.fused, 'ms'), median(sides.composite, 'ms')];
    console.log(JSON.stringify({ ...common, what, batch, side: 'composite', msMedian: r2(cMs), cpuMsMedian: r2(median(sides.composite, 'cpuMs')), msEach: sides.composite.map((t) => r2(t.ms)) }));
    console.log(JSON.stringify({ ...common, what, batch, side: 'fused', msMedian: r2(fMs), cpuMsMedian: r2(median(sides.fused, 'cpuMs')), msEach: sides.fused.map((t) => r2(t.ms)), speedupWall: r2(cMs / fMs) }));
  }
  optimizer.dispose();
  tf.dispose([input, labels]);
  net.dispose();
  fusedNet.dispose();
}
tf.dispose([x, probe, r, gate, restProbe, styleProbe]);
block.dispose();
core.closeKernelPools();
