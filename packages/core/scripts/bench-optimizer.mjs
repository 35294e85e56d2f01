// The fused optimizer updates on wasm against the composite, in the same run (the kernels
// unregistered for the composite), on PartialNet-T0's parameters (155 tensors, 3.49 M values).
// Run from the repository root after `pnpm build`:
//   node packages/core/scripts/bench-optimizer.mjs [--threads 1] [--iters 9] [--sgd]
//     AdamW.step (or SGD.step with momentum and weight decay) alone, with a [2, 32, 32, 3] batch's
//     gradients: median and min ms of `--iters` steps, fused, composite, fused again (the first
//     fused steps may still run V8's baseline wasm code).
//   node packages/core/scripts/bench-optimizer.mjs --train [--batch 16] [--threads 1] [--iters 5]
//     a whole training step at 224x224 as `bench backbone --train` runs it (forward, cross-entropy,
//     backward, AdamW), fused and composite alternating step by step: median wall and CPU ms of
//     the step and of its AdamW.step (on wasm every kernel runs synchronously in it).
import { parseArgs } from 'node:util';
import { AdamW, SGD, crossEntropy, setThreads, setupBackend, tf } from '../dist/index.js';
import { registerOptimizerKernels, unregisterOptimizerKernels } from '../dist/optim/fused-update.js';
import { PartialNet } from '../../backbone/dist/index.js';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' },
    iters: { type: 'string' },
    sgd: { type: 'boolean', default: false },
    train: { type: 'boolean', default: false },
    batch: { type: 'string', default: '16' },
  },
});
const threads = Number(values.threads);
setThreads(threads);
await setupBackend('wasm');
const net = PartialNet.create('t0');
net.train();
const params = net.parameters();
const count = params.reduce((s, p) => s + p.size, 0);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const r2 = (x) => Math.round(x * 100) / 100;

if (values.train) {
  const batch = Number(values.batch);
  const iters = Number(values.iters ?? 5);
  const x = tf.randomUniform([batch, 224, 224, 3], -1, 1, 'float32', 1);
  const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 1000), 'int32');
  const optimizer = new AdamW([{ params }], { lr: 1e-4, weightDecay: 0.05 });
  let optimizerMs = 0;
  let optimizerCpuMs = 0;
  const step = async () => {
    const { value, grads } = tf.variableGrads(() => crossEntropy(net.forward(x), labels, 0.1), params);
    const [t0, c0] = [performance.now(), process.cpuUsage()];
    optimizer.step(grads);
    optimizerMs = performance.now() - t0;
    const c = process.cpuUsage(c0);
    optimizerCpuMs = (c.user + c.system) / 1000;
    await value.data();
    tf.dispose([value, grads]);
  };
  const times = { fused: { wall: [], cpu: [], opt: [], optCpu: [] }, composite: { wall: [], cpu: [], opt: [], optCpu: [] } };
  for (let i = 0; i < iters + 1; i++) {
    for (const path of ['fused', 'composite']) {
      if (path === 'fused') registerOptimizerKernels();
      else unregisterOptimizerKernels();
      const [t0, c0] = [performance.now(), process.cpuUsage()];
      await step();
      const c = process.cpuUsage(c0);
      // the first round warms both up
      if (i > 0) {
        times[path].wall.push(performance.now() - t0);
        times[path].cpu.push((c.user + c.system) / 1000);
        times[path].opt.push(optimizerMs);
        times[path].optCpu.push(optimizerCpuMs);
      }
    }
  }
  registerOptimizerKernels();
  for (const [path, t] of Object.entries(times)) {
    console.log(JSON.stringify({ bench: 'train-step', variant: 't0', size: 224, batch, threads, optimizer: 'AdamW', path, iters, msPerIter: r2(median(t.wall)), cpuMsPerIter: r2(median(t.cpu)), optimizerStepMs: r2(median(t.opt)), optimizerStepCpuMs: r2(median(t.optCpu)) }));
  }
} else {
  const iters = Number(values.iters ?? 9);
  const x = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 1);
  const labels = tf.tensor1d([1, 2], 'int32');
  const { value, grads } = tf.variableGrads(() => crossEntropy(net.forward(x), labels), params);
  value.dispose();
  const time = async (path) => {
    const opt = values.sgd ? new SGD(params, { lr: 1e-3, momentum: 0.9, weightDecay: 1e-4 }) : new AdamW(params, { lr: 1e-3 });
    opt.step(grads);
    await params[0].data();
    const ms = [];
    for (let i = 0; i < iters; i++) {
      const t0 = performance.now();
      opt.step(grads);
      await params[0].data();
      ms.push(performance.now() - t0);
    }
    opt.dispose();
    console.log(JSON.stringify({ bench: 'optimizer-step', optimizer: values.sgd ? 'SGD' : 'AdamW', path, threads, params: params.length, values: count, iters, medianMs: r2(median(ms)), minMs: r2(Math.min(...ms)) }));
  };
  await time('fused');
  unregisterOptimizerKernels();
  await time('composite');
  registerOptimizerKernels();
  await time('fused');
}
