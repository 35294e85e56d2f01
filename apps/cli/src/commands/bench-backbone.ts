import { availableParallelism } from 'node:os';
import { AdamW, OnnxSession, crossEntropy, setupBackend, tf } from '@partialnet/core';
import { PartialNet, exportPartialNetOnnx, isVariant, type PartialNetVariant } from '@partialnet/backbone';
import { backendFlag, numberFlag, numberListFlag, parseCommandArgs } from '../args.js';
import { UsageError, type Command } from '../command.js';
import { machineInfo } from '../machine.js';
import { round2, timeIt, timeItWithCpu } from '../timing.js';

const usage = `usage: partialnet bench backbone [--variant t0] [--batch 1,16] [--size 224] [--train]
                                 [--iters N] [--warmup N] [--backend auto|wasm|cpu|webgpu|tfjs-node|tfjs-node-gpu]
                                 [--runtime tfjs|onnx|tfjs,onnx] [--threads N,...] [--provider auto|cpu|cuda]
                                 [--dynamic-size]

Times PartialNet inference (unfused and fused) and, with --train, one training step
(forward, cross-entropy, backward, AdamW) per batch size. Prints one JSON line per measurement.
--runtime onnx exports the fused model (fixed input size, unless --dynamic-size) and times it in
ONNX Runtime (onnxruntime-node) once per --threads value (default: the number of cores), next to
the reference: the official PyTorch T0 exported by torch.onnx.export in onnxruntime-node 1.30 on
a 2-core AMD EPYC (Zen 5) VM. --runtime tfjs,onnx times both in one run (compare them as ratios).`;

/** The reference: official PartialNet-T0 exported from PyTorch, onnxruntime-node 1.30, ms. */
const ONNX_REFERENCE_T0_224: Record<number, Record<number, number>> = {
  1: { 1: 3.46, 16: 48.9 },
  2: { 1: 2.3, 16: 26.4 },
};


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
      runtime: { type: 'string', default: 'tfjs' },
      threads: { type: 'string' },
      provider: { type: 'string', default: 'auto' },
      'dynamic-size': { type: 'boolean', default: false },
    });
    const runtimes = values.runtime!.split(',').map((r) => r.trim());
    for (const r of runtimes) if (r !== 'tfjs' && r !== 'onnx') throw new UsageError(`--runtime: expected tfjs, onnx or tfjs,onnx, got '${r}'`);
    const provider = values.provider!;
    if (provider !== 'auto' && provider !== 'cpu' && provider !== 'cuda') throw new UsageError(`--provider: expected auto, cpu or cuda, got '${provider}'`);
    const threadCounts = numberListFlag('threads', values.threads, [availableParallelism()]);
    for (const t of threadCounts) if (!(Number.isInteger(t) && t >= 1)) throw new UsageError(`--threads: expected positive integers, got '${values.threads}'`);
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
    const fused = net.fuse();
    if (runtimes.includes('onnx')) {
      const exported = await exportPartialNetOnnx(fused, values['dynamic-size'] ? {} : { size: [size, size] });
      const bytes = Buffer.concat(exported.chunks);
      for (const threads of threadCounts) {
        const session = await OnnxSession.fromBytes(bytes, `${variant} (exported in memory)`, { threads, provider: provider as 'auto' | 'cpu' | 'cuda' });
        for (const batch of batches) {
          const data = new Float32Array(batch * 3 * size * size).map(() => Math.random() - 0.5);
          const { ms, cpuMs } = await timeItWithCpu(async () => {
            await session.run({ input: { data, dims: [batch, 3, size, size] } });
          }, warmup, iters);
          const reference = variant === 't0' && size === 224 ? ONNX_REFERENCE_T0_224[threads]?.[batch] : undefined;
          console.log(
            JSON.stringify({
              ...common,
              backend: `onnxruntime-node ${session.version} (${session.provider})`,
              mode: 'onnx',
              inputSize: values['dynamic-size'] ? 'dynamic' : 'fixed',
              threads,
              batch,
              msPerIter: round2(ms),
              cpuMsPerIter: round2(cpuMs),
              imgPerSec: round2((1000 * batch) / ms),
              ...(reference !== undefined ? { referenceMs: reference, reference: 'official T0, torch.onnx.export, onnxruntime-node 1.30, 2-core EPYC Zen 5', ratio: round2(ms / reference) } : {}),
            }),
          );
        }
        await session.dispose();
      }
    }
    for (const batch of runtimes.includes('tfjs') ? batches : []) {
      const x = tf.randomNormal([batch, size, size, 3]) as tf.Tensor4D;
      for (const [mode, model] of [['infer', net], ['infer-fused', fused]] as const) {
        const { ms, cpuMs } = await timeItWithCpu(async () => {
          const y = model.forward(x);
          await y.data();
          y.dispose();
        }, warmup, iters);
        console.log(JSON.stringify({ ...common, mode, batch, msPerIter: round2(ms), cpuMsPerIter: round2(cpuMs), imgPerSec: round2((1000 * batch) / ms) }));
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

