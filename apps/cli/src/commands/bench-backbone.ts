import { AdamW, OnnxSession, crossEntropy, requestedThreads, setThreads, setupBackend, tf } from '@partialnet/core';
import { PartialNet, exportPartialNetOnnx, listVariants, type PartialNetVariant } from '@partialnet/backbone';
import { UsageError } from '../command.js';
import { BACKEND_OPTION, defineCommand } from '../options.js';
import { machineInfo } from '../machine.js';
import { profileOps } from '../profile.js';
import { compareToReference, loadReference } from '../reference.js';
import { SCHEDULE_OPTIONS, round2, timeAlternating, timeItWithCpu, type Schedule } from '../timing.js';

/** The reference: official PartialNet-T0 exported from PyTorch, onnxruntime-node 1.30, ms. */
export const benchBackboneCommand = defineCommand({
  name: 'bench backbone',
  summary: 'time PartialNet inference (fused and unfused) and training steps',
  description: `Times PartialNet inference (unfused and fused) and, with --train, one training step
(forward, cross-entropy, backward, AdamW) per batch size. Prints one JSON line per measurement.
--runtime onnx exports the fused model (fixed input size, unless --dynamic-size) and times it in
ONNX Runtime (onnxruntime-node) once per --threads value (default: PARTIALNET_THREADS, else the cores);
--onnx-reference FILE.onnx times another export of the same network (the official PyTorch model
through torch.onnx.export, written by apps/cli/reference/pytorch_reference.py) in the same session
loop, on the same input, and adds referenceMs and ratio (ours / it). --runtime tfjs,onnx times both in one run (compare them as ratios;
cpuMsPerIter, the process CPU time, is steadier than wall time on a busy machine). Every line
carries the thread count; --threads also sets the tfjs CPU backends' threads (the first value;
default PARTIALNET_THREADS, else all cores). --reference adds referenceMs and ratio (ours /
reference) to the tfjs lines from a file of PyTorch figures (apps/cli/reference/
pytorch-1.13-1thread.json is one). --profile adds, per batch, a line with the top ops by kernel
time of one fused inference and one training step.
Each measurement first runs untimed, at least --warmup times and for --warmup-seconds (V8 compiles
hot JavaScript on background threads over the first seconds, which takes a core from a multi-thread
run), then timed, at least --iters times and for --min-seconds; 'runs' is the number timed.`,
  options: {
    variant: { type: 'string', default: 't0', choices: listVariants(), help: 'PartialNet variant' },
    batch: { type: 'integers', arg: 'B1,B2,...', default: [1, 16], min: 1, help: 'batch sizes' },
    size: { type: 'integer', arg: 'PX', default: 224, min: 32, help: 'input side' },
    train: { type: 'boolean', help: 'also time a training step' },
    iters: { type: 'integer', default: 5, min: 1, help: 'timed iterations (median)' },
    warmup: { type: 'integer', default: 1, min: 0, help: 'untimed iterations first' },
    ...SCHEDULE_OPTIONS,
    backend: BACKEND_OPTION,
    runtime: { type: 'string', default: 'tfjs', arg: 'tfjs|onnx|tfjs,onnx', help: 'runtimes to time' },
    threads: { type: 'integers', arg: 'N1,N2,...', min: 1, help: 'ONNX Runtime intra-op threads, each timed; the first also for tfjs (default: PARTIALNET_THREADS, else all cores)' },
    provider: { type: 'string', default: 'auto', choices: ['auto', 'cpu', 'cuda'], help: 'ONNX Runtime execution provider' },
    'dynamic-size': { type: 'boolean', help: 'export with dynamic height and width (default: fixed to --size)' },
    reference: { type: 'string', arg: 'FILE.json', help: 'PyTorch figures to compare with (ratio = ours / reference)' },
    'onnx-reference': { type: 'string', arg: 'FILE.onnx', help: 'with --runtime onnx: another ONNX export of the network to time alongside ours (input NCHW float32, its first input)' },
    profile: { type: 'boolean', help: 'also print the top ops by kernel time' },
  },
  async run(values) {
    const variant = values.variant as PartialNetVariant;
    const { batch: batches, size } = values;
    const schedule: Schedule = { warmup: values.warmup, iters: values.iters, warmupSeconds: values['warmup-seconds'], minSeconds: values['min-seconds'] };
    const runtimes = values.runtime.split(',').map((r) => r.trim());
    for (const r of runtimes) if (r !== 'tfjs' && r !== 'onnx') throw new UsageError(`--runtime: expected tfjs, onnx or tfjs,onnx, got '${r}'`);
    const threadCounts = values.threads ?? [requestedThreads()];
    if (values.threads) setThreads(values.threads[0]!);
    const provider = values.provider as 'auto' | 'cpu' | 'cuda';
    if (values['onnx-reference'] !== undefined && !runtimes.includes('onnx')) throw new UsageError('--onnx-reference: needs --runtime onnx (or tfjs,onnx)');
    const referenceFile = values.reference === undefined ? undefined : loadReference(values.reference);
    const report = await setupBackend(values.backend);
    const common = { bench: 'backbone', variant, size, backend: report.name, threads: report.wasm?.threads ?? 1, ...(report.wasm?.xnnpackThreads !== undefined && report.wasm.xnnpackThreads !== report.wasm.threads ? { xnnpackThreads: report.wasm.xnnpackThreads } : {}), machine: machineInfo() };

    const net = PartialNet.create(variant as PartialNetVariant, { numClasses: 1000 });
    net.eval();
    const fused = await net.fuse();
    if (runtimes.includes('onnx')) {
      const exported = await exportPartialNetOnnx(fused, values['dynamic-size'] ? {} : { size: [size, size] });
      const bytes = Buffer.concat(exported.chunks);
      for (const threads of threadCounts) {
        const session = await OnnxSession.fromBytes(bytes, `${variant} (exported in memory)`, { threads, provider });
        const refSession = values['onnx-reference'] === undefined ? undefined : await OnnxSession.open(values['onnx-reference'], { threads, provider });
        const onnxCommon = { ...common, backend: `onnxruntime-node ${session.version} (${session.provider})`, inputSize: values['dynamic-size'] ? 'dynamic' : 'fixed', threads };
        for (const batch of batches) {
          const data = new Float32Array(batch * 3 * size * size).map(() => Math.random() - 0.5);
          const dims = [batch, 3, size, size];
          // alternate the two models iteration by iteration, so drift in the machine's speed
          // (another process, frequency) falls on both alike
          const timings = await timeAlternating(
            [async () => void (await session.run({ input: { data, dims } })), ...(refSession ? [async () => void (await refSession.run({ [refSession.inputNames[0]!]: { data, dims } }))] : [])],
            schedule,
          );
          const ours = timings[0]!;
          const theirs = timings[1];
          if (theirs) {
            console.log(JSON.stringify({ ...onnxCommon, mode: 'onnx-reference', model: values['onnx-reference'], batch, msPerIter: round2(theirs.ms), cpuMsPerIter: round2(theirs.cpuMs), imgPerSec: round2((1000 * batch) / theirs.ms) }));
          }
          console.log(
            JSON.stringify({
              ...onnxCommon,
              mode: 'onnx',
              batch,
              msPerIter: round2(ours.ms),
              cpuMsPerIter: round2(ours.cpuMs),
              imgPerSec: round2((1000 * batch) / ours.ms),
              runs: ours.runs,
              ...(theirs ? { referenceMs: round2(theirs.ms), ratio: round2(ours.ms / theirs.ms) } : {}),
            }),
          );
        }
        await session.dispose();
        await refSession?.dispose();
      }
    }
    for (const batch of runtimes.includes('tfjs') ? batches : []) {
      const x = tf.randomNormal([batch, size, size, 3]) as tf.Tensor4D;
      for (const [mode, model] of [['infer', net], ['infer-fused', fused]] as const) {
        const { ms, cpuMs, runs } = await timeItWithCpu(async () => {
          const y = model.forward(x);
          await y.data();
          y.dispose();
        }, schedule);
        const ref = compareToReference(referenceFile, 'backbone', `${mode}@${batch}`, ms, { size, threads: common.threads });
        console.log(JSON.stringify({ ...common, mode, batch, msPerIter: round2(ms), cpuMsPerIter: round2(cpuMs), imgPerSec: round2((1000 * batch) / ms), runs, ...ref }));
      }
      if (values.profile) {
        const p = await profileOps(async () => {
          const y = fused.forward(x);
          await y.data();
          y.dispose();
        });
        console.log(JSON.stringify({ ...common, mode: 'profile', target: 'infer-fused', batch, ...p }));
      }
      if (values.train) {
        net.train();
        const optimizer = new AdamW([{ params: net.parameters() }], { lr: 1e-4, weightDecay: 0.05 });
        const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 1000), 'int32');
        const { ms, cpuMs, runs } = await timeItWithCpu(async () => {
          const { value, grads } = tf.variableGrads(() => crossEntropy(net.forward(x), labels, 0.1), net.parameters());
          optimizer.step(grads);
          await value.data();
          tf.dispose([value, grads]);
        }, schedule);
        const ref = compareToReference(referenceFile, 'backbone', `train@${batch}`, ms, { size, threads: common.threads });
        console.log(JSON.stringify({ ...common, mode: 'train', batch, msPerIter: round2(ms), cpuMsPerIter: round2(cpuMs), imgPerSec: round2((1000 * batch) / ms), runs, ...ref }));
        if (values.profile) {
          const p = await profileOps(async () => {
            const { value, grads } = tf.variableGrads(() => crossEntropy(net.forward(x), labels, 0.1), net.parameters());
            optimizer.step(grads);
            await value.data();
            tf.dispose([value, grads]);
          });
          console.log(JSON.stringify({ ...common, mode: 'profile', target: 'train', batch, ...p }));
        }
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
