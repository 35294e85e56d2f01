import { AdamW, crossEntropy, setupBackend, tf } from '@partialnet/core';
import { PartialNet, listVariants, type PartialNetVariant } from '@partialnet/backbone';
import { BACKEND_OPTION, defineCommand } from '../options.js';
import { machineInfo } from '../machine.js';
import { round2, timeIt } from '../timing.js';

export const benchBackboneCommand = defineCommand({
  name: 'bench backbone',
  summary: 'time PartialNet inference (fused and unfused) and training steps',
  description: `Times PartialNet inference (unfused and fused) and, with --train, one training step
(forward, cross-entropy, backward, AdamW) per batch size. Prints one JSON line per measurement.`,
  options: {
    variant: { type: 'string', default: 't0', choices: listVariants(), help: 'PartialNet variant' },
    batch: { type: 'integers', arg: 'B1,B2,...', default: [1, 16], min: 1, help: 'batch sizes' },
    size: { type: 'integer', arg: 'PX', default: 224, min: 32, help: 'input side' },
    train: { type: 'boolean', help: 'also time a training step' },
    iters: { type: 'integer', default: 5, min: 1, help: 'timed iterations (median)' },
    warmup: { type: 'integer', default: 1, min: 0, help: 'untimed iterations first' },
    backend: BACKEND_OPTION,
  },
  async run(values) {
    const variant = values.variant as PartialNetVariant;
    const { batch: batches, size, iters, warmup } = values;
    const report = await setupBackend(values.backend);
    const common = { bench: 'backbone', variant, size, backend: report.name, machine: machineInfo() };

    const net = PartialNet.create(variant as PartialNetVariant, { numClasses: 1000 });
    net.eval();
    const fused = await net.fuse();
    for (const batch of batches) {
      const x = tf.randomNormal([batch, size, size, 3]) as tf.Tensor4D;
      for (const [mode, model] of [['infer', net], ['infer-fused', fused]] as const) {
        const ms = await timeIt(async () => {
          const y = model.forward(x);
          await y.data();
          y.dispose();
        }, warmup, iters);
        console.log(JSON.stringify({ ...common, mode, batch, msPerIter: round2(ms), imgPerSec: round2((1000 * batch) / ms) }));
      }
      if (values.train) {
        net.train();
        const optimizer = new AdamW([{ params: net.parameters() }], { lr: 1e-4, weightDecay: 0.05 });
        const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 1000), 'int32');
        const ms = await timeIt(async () => {
          const { value, grads } = tf.variableGrads(() => crossEntropy(net.forward(x), labels, 0.1), net.parameters());
          optimizer.step(grads);
          await value.data();
          tf.dispose([value, grads]);
        }, warmup, iters);
        console.log(JSON.stringify({ ...common, mode: 'train', batch, msPerIter: round2(ms), imgPerSec: round2((1000 * batch) / ms) }));
        optimizer.dispose();
        labels.dispose();
        net.eval();
      }
      x.dispose();
    }
    fused.dispose();
    net.dispose();
    return 0;
  },
});
