import { AdamW, OnnxSession, countTransfers, requestedThreads, setThreads, setupBackend, tf } from '@partialnet/core';
import type { ImageMeta, InstanceMask, Targets } from '@partialnet/data';
import { createDetector, exportDetectorOnnx, getPreset, listPresets, predictWithOnnx, totalLoss, type DetectorConfig } from '@partialnet/detection';
import { UsageError } from '../command.js';
import { BACKEND_OPTION, defineCommand } from '../options.js';
import { machineInfo } from '../machine.js';
import { profileOps } from '../profile.js';
import { compareToReference, loadReference } from '../reference.js';
import { SCHEDULE_OPTIONS, round2, timeIt, timeItWithCpu, type Schedule } from '../timing.js';

/** Three boxes of different sizes and classes per image (height x width), with filled-rectangle masks. */
export function syntheticTargets(batch: number, size: number, numClasses: number, width = size): { targets: Targets[]; metas: ImageMeta[] } {
  const targets: Targets[] = [];
  const metas: ImageMeta[] = [];
  const h = size;
  const w = width;
  for (let b = 0; b < batch; b++) {
    const rects = [
      [0.1, 0.1, 0.45, 0.5],
      [0.5, 0.2, 0.9, 0.85],
      [0.3, 0.6, 0.42, 0.72],
    ].map((r) => r.map((v, i) => Math.round(v * (i % 2 === 0 ? w : h))));
    const masks: InstanceMask[] = rects.map(([x1, y1, x2, y2]) => {
      const data = new Uint8Array(h * w);
      for (let y = y1!; y < y2!; y++) data.fill(1, y * w + x1!, y * w + x2!);
      return { kind: 'bitmap', data, width: w, height: h };
    });
    targets.push({ boxes: Float32Array.from(rects.flat()), labels: Int32Array.from(rects, (_, i) => (b * 3 + i) % numClasses), ignoreBoxes: new Float32Array(0), masks });
    metas.push({ index: b, imageId: b + 1, file: '', oriShape: [h, w], imgShape: [h, w], padShape: [h, w], scaleFactor: [1, 1], flip: false, padDivisor: 32 });
  }
  return { targets, metas };
}

function withScoreThr(c: DetectorConfig, thr: number): DetectorConfig {
  return c.kind === 'retinanet' ? { ...c, head: { ...c.head, test: { ...c.head.test, scoreThr: thr } } } : { ...c, roi: { ...c.roi, test: { ...c.roi.test, scoreThr: thr } } };
}

export const benchDetectionCommand = defineCommand({
  name: 'bench detection',
  summary: 'time detector training steps and inference (RetinaNet, Mask R-CNN)',
  description: `Times one training step (forward with losses, backward, AdamW) and inference (predict, with
post-processing and mask paste-back) of each preset on SIZE x SIZE images with 3 synthetic instances
per image. Prints one JSON line per measurement: msPerIter (median), imgPerSec, backend, machine;
training also cpuMsPerIter (the process CPU time, all threads: steadier than wall time on a busy
machine).
Untrained heads score everything low, so --score-thr (default 0) replaces the test score threshold to
time the full post-processing of up to 100 detections per image; detsPerImg reports how many came out.
hostToDeviceBytes / deviceToHostBytes: tensor data that crossed between host and device in one
training step (one inference batch), the image batch already on the device; kernelSyncReadBytes:
inputs that backend kernels copy out of device memory themselves (wasm's Slice / Concat / Gather).
--runtime onnx times inference with the dense part (backbone, FPN, heads) exported to ONNX Runtime:
'dense-onnx' (the session alone; compared with the reference's '<preset>/dense', PyTorch's backbone,
FPN and dense head forward) and 'infer-onnx' (with the TypeScript post-processing); no training.
Each line carries the thread count (--threads sets both ONNX Runtime's and the tfjs CPU backends';
default PARTIALNET_THREADS, else all cores). --reference adds referenceMs and ratio (ours /
reference) from a file of PyTorch figures (apps/cli/reference/pytorch-1.13-1thread.json is one);
--profile adds a line with the top ops by kernel time of one training step and one inference per
preset. Each measurement first runs untimed, at least --warmup times and for --warmup-seconds, then
timed, at least --iters times and for --min-seconds ('runs' on training lines: the number timed).`,
  options: {
    preset: { type: 'string', arg: 'P1,P2,...', default: 'retinanet-t0,mask-rcnn-t0', help: 'detection presets (train --list-presets)' },
    size: { type: 'integer', arg: 'PX', default: 512, min: 64, help: 'image side, a multiple of 32' },
    batch: { type: 'integer', default: 2, min: 1, help: 'images per step' },
    iters: { type: 'integer', default: 3, min: 1, help: 'timed iterations (median)' },
    warmup: { type: 'integer', default: 1, min: 0, help: 'untimed iterations first' },
    ...SCHEDULE_OPTIONS,
    classes: { type: 'integer', default: 80, min: 1, help: 'number of classes of the heads' },
    'score-thr': { type: 'number', default: 0, min: 0, max: 1, help: 'test score threshold' },
    backend: BACKEND_OPTION,
    runtime: { type: 'string', default: 'tfjs', arg: 'tfjs|onnx|tfjs,onnx', help: 'runtimes to time' },
    threads: { type: 'integer', min: 1, help: 'threads of ONNX Runtime and the tfjs CPU backends (default: PARTIALNET_THREADS, else all cores)' },
    reference: { type: 'string', arg: 'FILE.json', help: 'PyTorch figures to compare with (ratio = ours / reference)' },
    profile: { type: 'boolean', help: 'also print the top ops by kernel time' },
  },
  async run(values) {
    const runtimes = values.runtime.split(',').map((r) => r.trim());
    for (const r of runtimes) if (r !== 'tfjs' && r !== 'onnx') throw new UsageError(`--runtime: expected tfjs, onnx or tfjs,onnx, got '${r}'`);
    if (values.threads) setThreads(values.threads);
    const threads = values.threads ?? requestedThreads();
    const presets = values.preset.split(',').map((p) => p.trim());
    for (const p of presets) if (!listPresets().includes(p)) throw new UsageError(`--preset: unknown preset '${p}' (known: ${listPresets().join(', ')})`);
    const { size, batch, classes: numClasses, 'score-thr': scoreThr } = values;
    const schedule: Schedule = { warmup: values.warmup, iters: values.iters, warmupSeconds: values['warmup-seconds'], minSeconds: values['min-seconds'] };
    if (size % 32 !== 0) throw new UsageError(`--size: a multiple of 32, at least 64, got ${size}`);
    const reference = values.reference === undefined ? undefined : loadReference(values.reference);
    const report = await setupBackend(values.backend);
    const { targets, metas } = syntheticTargets(batch, size, numClasses);

    for (const preset of presets) {
      const config = withScoreThr(getPreset(preset, { numClasses }), scoreThr);
      const model = createDetector(config);
      const common = { bench: 'detection', preset, size, batch, numClasses, backend: report.name, threads: report.wasm?.threads ?? 1, ...(report.wasm?.xnnpackThreads !== undefined && report.wasm.xnnpackThreads !== report.wasm.threads ? { xnnpackThreads: report.wasm.xnnpackThreads } : {}), machine: machineInfo() };
      const x = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      if (runtimes.includes('onnx')) {
        model.eval();
        const session = await OnnxSession.fromBytes(Buffer.concat((await exportDetectorOnnx(model)).chunks), `${preset} (exported in memory)`, { threads });
        const nchw = tf.transpose(x, [0, 3, 1, 2]);
        const input = { data: (await nchw.data()) as Float32Array, dims: [batch, 3, size, size] };
        nchw.dispose();
        const onnxCommon = { ...common, backend: `onnxruntime-node ${session.version} (${session.provider})`, threads };
        const dense = await timeItWithCpu(async () => {
          await session.run({ input });
        }, schedule);
        const denseRef = compareToReference(reference, 'detection', `${preset}/dense`, dense.ms, { size, batch, threads });
        console.log(JSON.stringify({ ...onnxCommon, mode: 'dense-onnx', msPerIter: round2(dense.ms), cpuMsPerIter: round2(dense.cpuMs), imgPerSec: round2((1000 * batch) / dense.ms), ...denseRef }));
        let dets = 0;
        const full = await timeIt(async () => {
          const out = await predictWithOnnx(model, session, x, metas);
          dets = out.reduce((a, d) => a + d.scores.length, 0) / batch;
        }, schedule);
        console.log(JSON.stringify({ ...onnxCommon, mode: 'infer-onnx', scoreThr, postProcessingBackend: report.name, msPerIter: round2(full), imgPerSec: round2((1000 * batch) / full), detsPerImg: dets }));
        await session.dispose();
        if (!runtimes.includes('tfjs')) {
          x.dispose();
          model.dispose();
          continue;
        }
      }

      model.train();
      const optimizer = new AdamW([{ params: model.parameters() }], { lr: 1e-4, weightDecay: 1e-4 });
      const trainStep = async () => {
        const batchIn = { images: x, targets, metas };
        await model.prepare(batchIn);
        const { value, grads } = tf.variableGrads(() => totalLoss(model.forward(batchIn)), model.parameters());
        optimizer.step(grads);
        await value.data();
        tf.dispose([value, grads]);
      };
      const { ms: trainMs, cpuMs: trainCpuMs, runs: trainRuns } = await timeItWithCpu(trainStep, schedule);
      const trainBytes = await countedRun(trainStep);
      const trainRef = compareToReference(reference, 'detection', `${preset}/train`, trainMs, { size, batch, threads: common.threads });
      console.log(JSON.stringify({ ...common, mode: 'train', msPerIter: round2(trainMs), cpuMsPerIter: round2(trainCpuMs), imgPerSec: round2((1000 * batch) / trainMs), runs: trainRuns, ...trainBytes, ...trainRef }));
      if (values.profile) console.log(JSON.stringify({ ...common, mode: 'profile', target: 'train', ...(await profileOps(trainStep)) }));
      optimizer.dispose();

      model.eval();
      let dets = 0;
      const inferStep = async () => {
        const out = await model.predict(x, metas);
        dets = out.reduce((a, d) => a + d.scores.length, 0) / batch;
      };
      const inferMs = await timeIt(inferStep, schedule);
      const inferBytes = await countedRun(inferStep);
      const inferRef = compareToReference(reference, 'detection', `${preset}/infer`, inferMs, { size, batch, threads: common.threads });
      console.log(JSON.stringify({ ...common, mode: 'infer', scoreThr, msPerIter: round2(inferMs), imgPerSec: round2((1000 * batch) / inferMs), detsPerImg: dets, ...inferBytes, ...inferRef }));
      if (values.profile) console.log(JSON.stringify({ ...common, mode: 'profile', target: 'infer', ...(await profileOps(inferStep)) }));
      x.dispose();
      model.dispose();
    }
    return 0;
  },
});

/**
 * Host<->device bytes of one more run of `step` (the image batch is already on the device, as a
 * data loader's upload is not part of the step). Bytes per step, as the bench fields say.
 */
export async function countedRun(
  step: () => Promise<void>,
): Promise<{ hostToDeviceBytes: number; deviceToHostBytes: number; uploads: number; reads: number; kernelSyncReadBytes: number }> {
  const counter = countTransfers();
  try {
    await step();
  } finally {
    counter.stop();
  }
  const c = counter.counts;
  return { hostToDeviceBytes: c.toDevice, deviceToHostBytes: c.toHost, uploads: c.uploads, reads: c.reads, kernelSyncReadBytes: c.syncReadBytes };
}
