import { AdamW, crossEntropy, setupBackend, tf } from '@partialnet/core';
import { PartialNet, isVariant, type PartialNetVariant } from '@partialnet/backbone';
import { backendFlag, numberFlag, numberListFlag, parseCommandArgs } from '../args.js';
import { UsageError, type Command } from '../command.js';
import { machineInfo } from '../machine.js';
import { round2, timeIt } from '../timing.js';

const usage = `usage: partialnet bench backbone [--variant t0] [--batch 1,16] [--size 224] [--train]
                                 [--iters N] [--warmup N] [--backend auto|wasm|cpu|webgpu|tfjs-node|tfjs-node-gpu]

Times PartialNet inference (unfused and fused) and, with --train, one training step
(forward, cross-entropy, backward, AdamW) per batch size. Prints one JSON line per measurement.`;


export const benchBackboneCommand: Command = {
  name: 'bench backbone',
  summary: 'time PartialNet inference (fused and unfused) and training steps',
  usage,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      variant: { type: 'string', default: 't0' },
      batch: { type: 'string' },
      size: { type: 'string' },
      train: { type: 'boolean', default: false },
      iters: { type: 'string' },
      warmup: { type: 'string' },
      backend: { type: 'string' },
    });
    const variant = values.variant!.toLowerCase();
    if (!isVariant(variant)) throw new UsageError(`--variant: unknown variant '${values.variant}'`);
    const batches = numberListFlag('batch', values.batch, [1, 16]);
    const size = numberFlag('size', values.size, 224);
    const iters = numberFlag('iters', values.iters, 5);
    const warmup = numberFlag('warmup', values.warmup, 1);
    const report = await setupBackend(backendFlag(values.backend));
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
};

