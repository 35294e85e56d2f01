import { afterAll, describe, expect, it } from 'vitest';
import { listBackends, seedEverything, setupBackend, tf, type StateDict } from '@partialnet/core';
import { MaskRCNN, createDetector, getPreset, totalLoss, type DetectionBatch, type DetectorConfig, type MaskRcnnConfig, type RetinaNetConfig } from '../src/index.js';
import { tinyTargets } from './helpers.js';

// The WebGPU suite for the detectors: one training step on webgpu equals the same step on wasm.
// Runs wherever a WebGPU adapter can be used (CI: lavapipe, PARTIALNET_ALLOW_SOFTWARE_GPU=1);
// skipped visibly elsewhere.
const gpu = (await listBackends()).find((p) => p.name === 'webgpu')!;
const suite = gpu.available ? 'WebGPU: one detector training step equals wasm' : `WebGPU suite skipped: ${gpu.reason}`;

const SIZE = 64;
// float32 sums in another order on each backend, through a deep network. Measured on lavapipe:
// loss terms agree to ~1e-6 relative, except RetinaNet's focal loss at 1.3e-4 (sigmoid and log on
// the GPU are less exact than wasm's); gradients to 3e-5 of each tensor's largest value. Some
// gradients are zero up to rounding (BatchNorm biases whose effect the next norm removes: ~1e-8),
// hence the absolute floor.
const LOSS_RTOL = 5e-4;
const GRAD_RTOL = 2e-3;
const GRAD_ATOL = 1e-6;

function configs(): [string, DetectorConfig][] {
  // Narrow necks and heads: lavapipe runs on the CPU, and what is compared is the same whatever the width.
  const retina = getPreset('retinanet-t0', { numClasses: 3 }) as RetinaNetConfig;
  retina.neck = { ...retina.neck, outChannels: 32 };
  retina.head = { ...retina.head, featChannels: 32, stackedConvs: 2 };
  const mask = getPreset('mask-rcnn-lite-t0', { numClasses: 3 }) as MaskRcnnConfig;
  mask.neck = { ...mask.neck, outChannels: 32 };
  mask.rpn = { ...mask.rpn, featChannels: 32 };
  mask.roi.bbox = { ...mask.roi.bbox, fcChannels: 64 };
  mask.roi.mask = { ...mask.roi.mask!, convChannels: 32 };
  mask.rpn.train = { ...mask.rpn.train, nmsPre: 200, maxPerImg: 100 };
  mask.roi.bbox.sampler = { ...mask.roi.bbox.sampler, num: 32 };
  return [
    ['RetinaNet-T0', retina],
    ['Mask R-CNN-lite-T0', mask],
  ];
}

interface StepResult {
  losses: Record<string, number>;
  grads: Map<string, Float32Array>;
  weights: StateDict;
  proposals: DetectionBatch['proposals'];
}

/**
 * One forward + backward of `config` on the active backend. With `from`, the weights and the
 * proposals are the reference run's: proposals are host NMS output, where a 1e-7 difference in
 * two near-equal untrained scores may swap a box; that is not what this compares.
 */
async function step(config: DetectorConfig, images: Float32Array, from?: StepResult): Promise<StepResult> {
  seedEverything(7);
  const model = createDetector(config);
  if (from) model.loadStateDict(from.weights);
  model.train();
  const { targets, metas } = tinyTargets(SIZE);
  const x = tf.tensor4d(images, [2, SIZE, SIZE, 3]);
  const batch: DetectionBatch = { images: x, targets, metas };
  if (model instanceof MaskRCNN) {
    model.rpnHead.sampler.rng.reseed(11);
    model.roiHead.sampler.rng.reseed(12);
  }
  if (from?.proposals) batch.proposals = from.proposals;
  else await model.prepare(batch);
  const kept: Record<string, tf.Scalar> = {};
  const { value, grads } = tf.variableGrads(() => {
    const losses = model.forward(batch);
    for (const [k, v] of Object.entries(losses)) kept[k] = tf.keep(v);
    return totalLoss(losses);
  }, model.parameters());
  const losses: Record<string, number> = {};
  for (const [k, v] of Object.entries(kept)) losses[k] = (await v.data())[0]!;
  const host = new Map<string, Float32Array>();
  for (const [name, v] of model.namedParameters()) if (grads[v.name]) host.set(name, (await grads[v.name]!.data()) as Float32Array);
  const weights = await model.stateDict();
  tf.dispose([x, value, grads, ...Object.values(kept)]);
  model.dispose();
  return { losses, grads: host, weights, proposals: batch.proposals };
}

describe.skipIf(!gpu.available)(suite, () => {
  afterAll(async () => {
    await setupBackend('wasm');
  });

  for (const [name, config] of configs()) {
    it(`${name}: losses within ${LOSS_RTOL} and every gradient within ${GRAD_RTOL} of its scale (+${GRAD_ATOL})`, async () => {
      let s = 3;
      const images = Float32Array.from({ length: 2 * SIZE * SIZE * 3 }, () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1);
      await setupBackend('wasm');
      const ref = await step(config, images);
      await setupBackend('webgpu');
      const before = tf.memory().numTensors;
      const got = await step(config, images, ref);
      expect(tf.memory().numTensors).toBe(before);
      expect(Object.keys(got.losses).sort()).toEqual(Object.keys(ref.losses).sort());
      const bad: string[] = [];
      for (const [k, v] of Object.entries(ref.losses)) {
        expect(Number.isFinite(v), k).toBe(true);
        if (!(Math.abs(got.losses[k]! - v) <= LOSS_RTOL * Math.abs(v) + 1e-6)) bad.push(`${k}: webgpu ${got.losses[k]} vs wasm ${v}`);
      }
      let worstGrad = 0;
      for (const [n, g] of ref.grads) {
        const h = got.grads.get(n);
        if (!h) {
          bad.push(`${n}: no gradient on webgpu`);
          continue;
        }
        let scale = 0;
        let diff = 0;
        for (let i = 0; i < g.length; i++) {
          scale = Math.max(scale, Math.abs(g[i]!));
          diff = Math.max(diff, Math.abs(g[i]! - h[i]!));
        }
        if (diff > GRAD_RTOL * scale + GRAD_ATOL) bad.push(`${n}: ${diff} vs scale ${scale}`);
        if (scale > 1e3 * GRAD_ATOL) worstGrad = Math.max(worstGrad, diff / scale);
      }
      const worstLoss = Math.max(...Object.entries(ref.losses).map(([k, v]) => Math.abs(got.losses[k]! - v) / Math.max(Math.abs(v), 1e-12)));
      console.log(`${name} webgpu vs wasm: worst loss rel diff ${worstLoss.toExponential(2)}, worst gradient diff / scale ${worstGrad.toExponential(2)}`);
      expect(bad).toEqual([]);
      expect(ref.grads.size).toBeGreaterThan(20);
    }, 600_000);
  }

  it('Mask R-CNN proposals on webgpu: the device top-k and host NMS give boxes inside the image', async () => {
    await setupBackend('webgpu');
    const config = configs()[1]![1];
    const model = createDetector(config);
    model.train();
    const before = tf.memory().numTensors;
    const { targets, metas } = tinyTargets(SIZE);
    const x = tf.randomNormal([2, SIZE, SIZE, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const batch: DetectionBatch = { images: x, targets, metas };
    await model.prepare(batch);
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    expect(batch.proposals).toHaveLength(2);
    batch.proposals!.forEach((p, b) => {
      const n = p.scores.length;
      expect(n).toBeGreaterThan(0);
      const [h, w] = metas[b]!.imgShape;
      for (let i = 0; i < n; i++) {
        expect(p.boxes[4 * i]!).toBeGreaterThanOrEqual(0);
        expect(p.boxes[4 * i + 2]!).toBeLessThanOrEqual(w);
        expect(p.boxes[4 * i + 3]!).toBeLessThanOrEqual(h);
        if (i > 0) expect(p.scores[i]!).toBeLessThanOrEqual(p.scores[i - 1]!);
      }
    });
  }, 300_000);
});
