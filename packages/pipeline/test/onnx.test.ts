import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxSession, onnxRuntimeAvailable, setupBackend, tf } from '@partialnet/core';
import { writeShapesDataset } from '@partialnet/data';
import { createDetector, exportDetectorOnnx, predictWithOnnx, type Detections, type Detector, type DetectorConfig } from '@partialnet/detection';
import { evaluateDetections, openDetectionSplit, resolveRunConfig } from '../src/index.js';

const ortMissing = !(await onnxRuntimeAvailable());
let root: string;
let shapes: string;

beforeAll(async () => {
  await setupBackend('wasm');
  root = mkdtempSync(join(tmpdir(), 'partialnet-onnx-'));
  shapes = join(root, 'shapes');
  await writeShapesDataset(shapes, { images: 12, width: 96, height: 64, seed: 5, valFraction: 0.5, format: 'png' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * An untrained detector scores every anchor near its prior and detects nothing; order-1 random
 * weights (deterministic) make it emit many boxes of varied scores, so both runtimes have
 * thousands of decisions to agree on.
 */
async function randomize(model: Detector, seed: number): Promise<void> {
  let state = seed >>> 0;
  const uniform = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const normal = () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
  const dict = await model.stateDict();
  for (const [name, t] of dict) {
    const data = t.data as Float32Array;
    const fanIn = t.shape.length > 1 ? t.data.length / t.shape[0]! : 1;
    for (let i = 0; i < data.length; i++) {
      if (name.endsWith('running_var')) data[i] = 0.5 + uniform();
      else if (name.endsWith('running_mean') || name.endsWith('.bias')) data[i] = 0.2 * normal();
      else if (t.shape.length === 1) data[i] = 1 + 0.2 * normal();
      else data[i] = normal() / Math.sqrt(fanIn);
    }
  }
  model.loadStateDict(dict);
}

function record(into: Detections[], dets: Detections[]): Detections[] {
  into.push(...dets);
  return dets;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  return Buffer.concat(chunks);
}

for (const preset of ['retinanet-t0', 'mask-rcnn-lite-t0'] as const) {
  describe.skipIf(ortMissing)(`${preset}: dense part exported to ONNX, evaluated through ONNX Runtime (onnxruntime-node installed)`, () => {
    it('gives the dense outputs of tfjs within 1e-4 x scale, the same detections image by image (scores 1e-3, boxes 0.05 px), and the same COCO AP to 3 decimals', async () => {
      const split = await openDetectionSplit(shapes, 'val', { withMasks: preset.startsWith('mask') });
      const config = resolveRunConfig({ preset }, split.categoryIds.length).model as DetectorConfig;
      const model = createDetector(config);
      await randomize(model, 11);
      model.eval();
      const exported = await exportDetectorOnnx(model);
      const session = await OnnxSession.fromBytes(concat(exported.chunks), `${preset}.onnx`, { threads: 1, provider: 'cpu' });
      const before = tf.memory().numTensors;

      // Dense outputs on one padded batch, both runtimes.
      const x = tf.randomNormal([2, 64, 96, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
      const nchw = tf.transpose(x, [0, 3, 1, 2]);
      const onnx = await session.run({ input: { data: (await nchw.data()) as Float32Array, dims: [2, 3, 64, 96] } });
      nchw.dispose();
      const feats = model.extractFeatures(x);
      const heads = 'bboxHead' in model ? (model as unknown as { bboxHead: { forward: (f: tf.Tensor4D[]) => { cls: tf.Tensor4D[]; reg: tf.Tensor4D[] } } }).bboxHead.forward(feats) : (model as unknown as { rpnHead: { forward: (f: tf.Tensor4D[]) => { cls: tf.Tensor4D[]; reg: tf.Tensor4D[] } } }).rpnHead.forward(feats);
      const prefix = 'bboxHead' in model ? '' : 'rpn_';
      const reference: Record<string, tf.Tensor4D> = {};
      model.neck.outputInfo.forEach((f, i) => {
        reference[`${prefix}cls_${f.name}`] = heads.cls[i]!;
        reference[`${prefix}reg_${f.name}`] = heads.reg[i]!;
        if (prefix) reference[f.name] = feats[i]!;
      });
      expect(Object.keys(onnx).sort()).toEqual(Object.keys(reference).sort());
      for (const [name, t] of Object.entries(reference)) {
        const expected = tf.transpose(t, [0, 3, 1, 2]);
        const e = (await expected.data()) as Float32Array;
        expected.dispose();
        const got = onnx[name]!;
        expect(got.dims, name).toEqual([t.shape[0], t.shape[3], t.shape[1], t.shape[2]]);
        let diff = 0;
        let scale = 1;
        for (let i = 0; i < e.length; i++) {
          diff = Math.max(diff, Math.abs(e[i]! - got.data[i]!));
          scale = Math.max(scale, Math.abs(e[i]!));
        }
        expect(diff / scale, name).toBeLessThanOrEqual(1e-4);
      }
      tf.dispose([x, ...feats, ...heads.cls, ...heads.reg]);

      // COCO evaluation of the synthetic split through each runtime.
      const common = { dataset: split.dataset, gt: split.gt, labelToCategoryId: split.categoryIds, iouTypes: preset.startsWith('mask') ? (['bbox', 'segm'] as const) : (['bbox'] as const), scale: [96, 64] as [number, number], batchSize: 2, progress: false };
      const seen: { tfjs: Detections[]; onnx: Detections[] } = { tfjs: [], onnx: [] };
      const viaTfjs = await evaluateDetections({ ...common, predict: async (images, metas) => record(seen.tfjs, await model.predict(images, metas)), outDir: join(root, `${preset}-tfjs`) });
      const viaOnnx = await evaluateDetections({ ...common, predict: async (images, metas) => record(seen.onnx, await predictWithOnnx(model, session, images, metas)), outDir: join(root, `${preset}-onnx`) });
      // The same detections, image by image (both lists come out of the same NMS, best first).
      expect(seen.onnx.length).toBe(seen.tfjs.length);
      // Scores within 1e-3 and box corners within 0.05 px: the RoI heads' fully connected layers
      // (random order-1 weights here) amplify the dense outputs' 1e-6 float differences.
      let compared = 0;
      let scoreDiff = 0;
      let boxDiff = 0;
      seen.tfjs.forEach((a, i) => {
        const b = seen.onnx[i]!;
        expect(b.labels.length, `image ${i}: number of detections`).toBe(a.labels.length);
        expect(Array.from(b.labels), `image ${i}: labels`).toEqual(Array.from(a.labels));
        for (let k = 0; k < a.scores.length; k++) scoreDiff = Math.max(scoreDiff, Math.abs(b.scores[k]! - a.scores[k]!));
        for (let k = 0; k < a.boxes.length; k++) boxDiff = Math.max(boxDiff, Math.abs(b.boxes[k]! - a.boxes[k]!));
        compared += a.labels.length;
      });
      console.log(`${preset}: ${compared} detections compared, max score difference ${scoreDiff.toExponential(2)}, max box difference ${boxDiff.toExponential(2)} px`);
      expect(compared).toBeGreaterThan(50);
      expect(scoreDiff).toBeLessThanOrEqual(1e-3);
      expect(boxDiff).toBeLessThanOrEqual(0.05);
      for (const t of common.iouTypes) {
        for (const k of [0, 1, 8]) expect(viaOnnx[t]!.stats[k]!.toFixed(3), `${t} stat ${k}`).toBe(viaTfjs[t]!.stats[k]!.toFixed(3));
      }
      console.log(`${preset}: ${viaTfjs.bbox!.numResults} / ${viaOnnx.bbox!.numResults} detections, bbox AP ${viaTfjs.bbox!.stats[0]!.toFixed(4)} (tfjs) vs ${viaOnnx.bbox!.stats[0]!.toFixed(4)} (onnx), AR100 ${viaTfjs.bbox!.stats[8]!.toFixed(4)} vs ${viaOnnx.bbox!.stats[8]!.toFixed(4)}`);
      expect(tf.memory().numTensors).toBe(before);
      await session.dispose();
      model.dispose();
    }, 600_000);
  });
}
