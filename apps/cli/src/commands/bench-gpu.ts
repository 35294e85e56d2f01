import { AdamW, crossEntropy, setupBackend, tf, type BackendName } from '@partialnet/core';
import { PartialNet, type PartialNetVariant } from '@partialnet/backbone';
import { createDetector, getPreset, totalLoss, type DetectionBatch } from '@partialnet/detection';
import { BACKEND_OPTION, defineCommand } from '../options.js';
import { machineInfo } from '../machine.js';
import { round2, timeIt } from '../timing.js';
import { countedRun, syntheticTargets } from './bench-detection.js';

/**
 * PyTorch 2.11 on an H200, fp32 (the reference figures): PartialNet inference img/s at
 * 224 x 224, batch 256; the T0 training step at 64 x 224 in ms.
 */
export const PYTORCH_H200 = {
  inferImgPerSec: { t0: 41_881, t1: 24_386, s: 11_940, m: 6_766, l: 4_525 } as Record<string, number>,
  t0TrainStepMs64x224: 39.7,
};

export const benchGpuCommand = defineCommand({
  name: 'bench gpu',
  summary: 'the GPU benchmark: PartialNet T0-L inference, T0 training, detectors at 800x1333, vs PyTorch on an H200',
  description: `The GPU benchmark, one script (under 5 minutes on a GPU): PartialNet T0/T1/S/M/L fused inference
at 224 x 224, batch 256; a T0 training step at 64 x 224; RetinaNet-T0 and Mask R-CNN-T0 (80
classes) training step and inference at 800 x 1333 (padded to 1344), batch 2. Prints one JSON line
per measurement with the PyTorch H200 figure and our ratio to it (inference: our img/s / theirs,
goal >= 0.5; training: our ms / theirs, goal <= 4). Default backend webgpu.

--quick runs the same code at tiny sizes (32 x 32 images, batch 2; detectors at 64 x 96, batch 1):
a check that everything runs (e.g. on a software adapter), not a measurement; its lines carry
"quick": true and no ratios.`,
  options: {
    quick: { type: 'boolean', help: 'tiny sizes: a smoke run, not a measurement' },
    iters: { type: 'integer', min: 1, help: 'timed iterations (median); default 5, 1 with --quick' },
    warmup: { type: 'integer', default: 1, min: 0, help: 'untimed iterations first (shader compilation)' },
    backend: { ...BACKEND_OPTION, help: 'compute backend (default webgpu)' },
  },
  async run(values) {
    const quick = values.quick;
    const iters = values.iters ?? (quick ? 1 : 5);
    const warmup = values.warmup;
    const requested: BackendName | 'auto' = values.backend ?? 'webgpu';
    const report = await setupBackend(requested);
    const common = { bench: 'gpu', backend: report.name, adapter: report.gpuAdapter ?? null, machine: machineInfo(), ...(quick ? { quick: true } : {}) };
    const print = (line: Record<string, unknown>) => console.log(JSON.stringify({ ...common, ...line }));
    const started = performance.now();
    // One failing measurement (out of memory, a missing kernel) must not lose the others.
    const measure = async (what: Record<string, unknown>, fn: () => Promise<Record<string, unknown>>) => {
      try {
        print({ ...what, ...(await fn()) });
      } catch (err) {
        print({ ...what, error: err instanceof Error ? err.message.split('\n')[0] : String(err) });
      }
    };

    const inferSize = quick ? 32 : 224;
    const inferBatch = quick ? 2 : 256;
    for (const variant of ['t0', 't1', 's', 'm', 'l'] as PartialNetVariant[]) {
      await measure({ workload: 'backbone-infer-fused', variant, size: inferSize, batch: inferBatch }, async () => {
        const net = PartialNet.create(variant, { numClasses: 1000 });
        net.eval();
        const fused = await net.fuse();
        net.dispose();
        const x = tf.randomNormal([inferBatch, inferSize, inferSize, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
        try {
          const ms = await timeIt(async () => {
            const y = fused.forward(x);
            await y.data();
            y.dispose();
          }, { warmup, iters });
          const imgPerSec = (1000 * inferBatch) / ms;
          const ref = PYTORCH_H200.inferImgPerSec[variant]!;
          return { msPerIter: round2(ms), imgPerSec: round2(imgPerSec), pytorchH200ImgPerSec: ref, ratio: quick ? null : round2(imgPerSec / ref) };
        } finally {
          x.dispose();
          fused.dispose();
        }
      });
    }

    const trainBatch = quick ? 2 : 64;
    await measure({ workload: 'backbone-train-step', variant: 't0', size: inferSize, batch: trainBatch }, async () => {
      const net = PartialNet.create('t0', { numClasses: 1000 });
      net.train();
      const optimizer = new AdamW([{ params: net.parameters() }], { lr: 1e-4, weightDecay: 0.05 });
      const x = tf.randomNormal([trainBatch, inferSize, inferSize, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
      const labels = tf.tensor1d(Array.from({ length: trainBatch }, (_, i) => i % 1000), 'int32');
      try {
        const ms = await timeIt(async () => {
          const { value, grads } = tf.variableGrads(() => crossEntropy(net.forward(x), labels, 0.1), net.parameters());
          optimizer.step(grads);
          await value.data();
          tf.dispose([value, grads]);
        }, { warmup, iters });
        return { msPerIter: round2(ms), pytorchH200Ms: PYTORCH_H200.t0TrainStepMs64x224, ratio: quick ? null : round2(ms / PYTORCH_H200.t0TrainStepMs64x224) };
      } finally {
        tf.dispose([x, labels]);
        optimizer.dispose();
        net.dispose();
      }
    });

    const [h, w] = quick ? [64, 96] : [800, 1344];
    const detBatch = quick ? 1 : 2;
    for (const preset of ['retinanet-t0', 'mask-rcnn-t0']) {
      const model = createDetector(getPreset(preset, { numClasses: 80 }));
      const { targets, metas } = syntheticTargets(detBatch, h, 80, w);
      const x = tf.randomNormal([detBatch, h, w, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
      try {
        await measure({ workload: 'detector-train-step', preset, height: h, width: w, batch: detBatch }, async () => {
          model.train();
          const optimizer = new AdamW([{ params: model.parameters() }], { lr: 1e-4, weightDecay: 1e-4 });
          try {
            const step = async () => {
              const batch: DetectionBatch = { images: x, targets, metas };
              await model.prepare(batch);
              const { value, grads } = tf.variableGrads(() => totalLoss(model.forward(batch)), model.parameters());
              optimizer.step(grads);
              await value.data();
              tf.dispose([value, grads]);
            };
            const ms = await timeIt(step, { warmup, iters });
            return { msPerIter: round2(ms), imgPerSec: round2((1000 * detBatch) / ms), ...(await countedRun(step)) };
          } finally {
            optimizer.dispose();
          }
        });
        await measure({ workload: 'detector-infer', preset, height: h, width: w, batch: detBatch }, async () => {
          model.eval();
          const step = async () => {
            await model.predict(x, metas);
          };
          const ms = await timeIt(step, { warmup, iters });
          return { msPerIter: round2(ms), imgPerSec: round2((1000 * detBatch) / ms), ...(await countedRun(step)) };
        });
      } finally {
        x.dispose();
        model.dispose();
      }
    }
    print({ workload: 'total', seconds: round2((performance.now() - started) / 1000) });
    return 0;
  },
});
