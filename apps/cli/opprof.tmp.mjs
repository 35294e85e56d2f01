import { AdamW, crossEntropy, setupBackend, tf } from '@partialnet/core';
import { PartialNet } from '@partialnet/backbone';
await setupBackend('wasm');
const net = PartialNet.create('t0', { numClasses: 1000 }); net.train();
const x = tf.randomNormal([16, 224, 224, 3]); const labels = tf.tensor1d(Array.from({ length: 16 }, (_, i) => i), 'int32');
const opt = new AdamW([{ params: net.parameters() }], { lr: 1e-4, weightDecay: 0.05 });
const step = async () => { const { value, grads } = tf.variableGrads(() => crossEntropy(net.forward(x), labels, 0.1), net.parameters()); opt.step(grads); await value.data(); tf.dispose([value, grads]); };
await step();
const info = await tf.profile(step);
const by = new Map();
for (const k of info.kernels) { const e = by.get(k.name) ?? { ms: 0, n: 0 }; e.ms += k.kernelTimeMs; e.n++; by.set(k.name, e); }
console.log(process.argv[2], [...by].sort((a, b) => b[1].ms - a[1].ms).slice(0, 22).map(([k, e]) => `${k}:${e.ms.toFixed(0)}/${e.n}`).join(' '));
