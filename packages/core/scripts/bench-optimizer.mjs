// AdamW.step on PartialNet-T0's parameters (155 tensors, 3.49 M values), wasm backend: median of
// `--iters` steps with the fused kernel and, in the same run, with the composite (the kernel
// unregistered). Run from the repository root after `pnpm build`:
//   node packages/core/scripts/bench-optimizer.mjs [--threads 1] [--iters 9] [--sgd]
import { parseArgs } from 'node:util';
import { AdamW, SGD, crossEntropy, setThreads, setupBackend, tf } from '../dist/index.js';
import { PartialNet } from '../../backbone/dist/index.js';

const { values } = parseArgs({ options: { threads: { type: 'string', default: '1' }, iters: { type: 'string', default: '9' }, sgd: { type: 'boolean', default: false } } });
setThreads(Number(values.threads));
await setupBackend('wasm');
let fused;
try {
  fused = await import('../dist/optim/fused-update.js');
} catch {
  fused = undefined;
}
const net = PartialNet.create('t0');
net.train();
const params = net.parameters();
const x = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 1);
const labels = tf.tensor1d([1, 2], 'int32');
const { grads } = tf.variableGrads(() => crossEntropy(net.forward(x), labels), params);
const count = params.reduce((s, p) => s + p.size, 0);

async function time(label) {
  const opt = values.sgd ? new SGD(params, { lr: 1e-3, momentum: 0.9, weightDecay: 1e-4 }) : new AdamW(params, { lr: 1e-3 });
  opt.step(grads);
  await params[0].data();
  const ms = [];
  for (let i = 0; i < Number(values.iters); i++) {
    const t0 = performance.now();
    opt.step(grads);
    await params[0].data();
    ms.push(performance.now() - t0);
  }
  opt.dispose();
  ms.sort((a, b) => a - b);
  const median = ms[Math.floor(ms.length / 2)];
  console.log(JSON.stringify({ optimizer: values.sgd ? 'SGD' : 'AdamW', path: label, threads: Number(values.threads), params: params.length, values: count, medianMs: +median.toFixed(2), minMs: +ms[0].toFixed(2) }));
}

if (fused) {
  await time('fused');
  fused.unregisterOptimizerKernels();
  await time('composite');
  fused.registerOptimizerKernels();
  await time('fused');
} else {
  await time('composite');
}
