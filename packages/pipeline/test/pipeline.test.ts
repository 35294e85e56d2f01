import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, frPyObjects, merge, type RleObject } from '@partialnet/coco';
import { BatchNorm2d, loadSafetensors, lrAt, seedEverything, setupBackend, tf, type StateDict } from '@partialnet/core';
import { decodeImage, writeShapesDataset, type ImageMeta } from '@partialnet/data';
import {
  buildOptimizer,
  buildSchedule,
  curvesFromLog,
  detectionTrainData,
  detectionTrainLoader,
  evaluateDetections,
  mergeOverrides,
  openDetectionSplit,
  readRunConfig,
  resolveRunConfig,
  resolveSplit,
  setTrainMode,
  trainDetector,
  writeTrainingCurve,
  type DetectionRunConfig,
} from '../src/index.js';
import { createDetector, type Detections, type RetinaNetConfig } from '@partialnet/detection';
import { tinyMaskRcnn, tinyRetina } from './tiny-detectors.js';

let root: string;
let shapes: string;

beforeAll(async () => {
  await setupBackend('wasm');
  root = mkdtempSync(join(tmpdir(), 'partialnet-pipeline-'));
  shapes = join(root, 'shapes');
  await writeShapesDataset(shapes, { images: 10, width: 64, height: 64, seed: 3, valFraction: 0.4, format: 'png' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('run config', () => {
  it('fills the PartialNet detection recipe defaults and scales the 1x steps to the run', () => {
    const c = resolveRunConfig({ preset: 'mask-rcnn-t0' }, 6);
    expect(c).toMatchObject({ optimizer: 'adamw', lr: 2e-4, weightDecay: 1e-4, epochs: 12, batchSize: 2, steps: [8, 11], warmupRatio: 0.001, bnMode: 'train', clipGradNorm: 0 });
    expect(c.model.numClasses).toBe(6);
    const sgd = resolveRunConfig({ preset: 'retinanet-t0', optimizer: 'sgd', batchSize: 4, epochs: 24 }, 3);
    // mmdet 2.x retinanet_r50_fpn_1x: SGD lr 0.01 for 16 images, no gradient clipping.
    expect(sgd.lr).toBeCloseTo((0.01 * 4) / 16, 12);
    expect(sgd.steps).toEqual([16, 22]);
    expect(sgd.clipGradNorm).toBe(0);
    expect(resolveRunConfig({ preset: 'mask-rcnn-t0', optimizer: 'sgd', batchSize: 4 }, 3).lr).toBeCloseTo((0.02 * 4) / 16, 12);
    // The official backbone ignores norm_eval: batch statistics even with ImageNet weights.
    expect(resolveRunConfig({ preset: 'retinanet-t0', backboneWeights: 'x.safetensors' }, 3).bnMode).toBe('train');
    // The official configs' AdamW lr: 2e-4 for S, 1e-4 for M and L.
    expect(['mask-rcnn-s-det', 'mask-rcnn-m-det', 'mask-rcnn-l-det'].map((p) => resolveRunConfig({ preset: p }, 3).lr)).toEqual([2e-4, 1e-4, 1e-4]);

    // 10 iterations per epoch, 12 epochs: steps at 80 and 110, warmup 500 capped at a third.
    const s = buildSchedule(resolveRunConfig({ preset: 'retinanet-t0' }, 3), 10);
    expect(s.policy).toEqual({ type: 'step', milestones: [80, 110], gamma: 0.1 });
    expect(s.warmup).toEqual({ iters: 40, ratio: 0.001 });
    expect(lrAt(s, 0)).toBeCloseTo(2e-7, 12);
    expect(lrAt(s, 100)).toBeCloseTo(2e-5, 12);
    const cos = buildSchedule(resolveRunConfig({ preset: 'retinanet-t0', schedule: 'cosine', warmupIters: 500, epochs: 100 }, 3), 10);
    expect(cos.warmup).toEqual({ iters: 500, ratio: 0.001 });
    expect(lrAt(cos, 1000)).toBeCloseTo(0, 12);
  });

  it('merges model overrides into the preset and names unknown or bad fields', async () => {
    const c = resolveRunConfig({ preset: 'mask-rcnn-t0', model: { roi: { bbox: { sampler: { num: 64 } } } } as never, frozenStages: 1 }, 2);
    if (c.model.kind !== 'mask-rcnn') throw new Error('kind');
    expect(c.model.roi.bbox.sampler).toMatchObject({ num: 64, posFraction: 0.25 });
    expect(c.model.roi.bbox.fcChannels).toBe(1024);
    expect(c.model.backbone.frozenStages).toBe(1);
    expect(() => mergeOverrides({ a: { b: 1 } }, { a: { c: 2 } })).toThrow(/model\.a\.c: unknown field \(known: b\)/);
    const file = join(root, 'bad.json');
    writeFileSync(file, JSON.stringify({ preset: 'retinanet-t0', epochs: 'ten', batchsize: 2 }));
    await expect(readRunConfig(file)).rejects.toThrow(/bad\.json:\n {2}field 'epochs': expected a number, got "ten"\n {2}field 'batchsize': unknown/);
    expect(() => resolveRunConfig({ preset: 'yolo' }, 2)).toThrow(/unknown detection preset 'yolo'; known presets: mask-rcnn-l/);
    expect(() => resolveRunConfig({}, 2)).toThrow(/give 'preset'/);
  });

  it('no decay on norms and biases, frozen BatchNorms out of the optimizer', () => {
    const config = resolveRunConfig({ preset: 'retinanet-t0', noDecayNormBias: true, bnMode: 'frozen' }, 2);
    const model = createDetector(config.model as RetinaNetConfig);
    const all = model.parameters().length;
    setTrainMode(model, 'frozen');
    const trainable = model.parameters();
    expect(trainable.length).toBeLessThan(all);
    const names = new Map([...model.namedParameters()].map(([n, v]) => [v, n]));
    const bnParams = [...model.backbone.namedModules()].filter(([, m]) => m instanceof BatchNorm2d).flatMap(([, m]) => [(m as BatchNorm2d).weight, (m as BatchNorm2d).bias]);
    expect(bnParams.length).toBeGreaterThan(10);
    expect(bnParams.some((v) => trainable.includes(v))).toBe(false);
    expect(trainable.some((v) => names.get(v)!.startsWith('backbone.'))).toBe(true);
    const opt = buildOptimizer(model, config);
    expect(opt.params.length).toBe(trainable.length);
    const before = tf.memory().numTensors;
    opt.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBeLessThan(before);
  });
});

describe('seeding', () => {
  it('the same seed builds the same detector (runs are reproducible from --seed)', async () => {
    const dicts: StateDict[] = [];
    for (const seed of [0, 0, 1]) {
      seedEverything(seed);
      const m = createDetector(resolveRunConfig({ preset: 'retinanet-t0' }, 2).model as RetinaNetConfig);
      dicts.push(await m.stateDict());
      m.dispose();
    }
    const same = (a: typeof dicts[0], b: typeof dicts[0]) => [...a].every(([k, t]) => Buffer.from(t.data.buffer).equals(Buffer.from(b.get(k)!.data.buffer)));
    expect(same(dicts[0]!, dicts[1]!)).toBe(true);
    expect(same(dicts[0]!, dicts[2]!)).toBe(false);
  });
});

describe('data', () => {
  it('resolves shapes and COCO layouts and names what is missing', async () => {
    const s = await resolveSplit(shapes, 'val');
    expect(s.annotations).toBe(join(shapes, 'annotations', 'instances_val.json'));
    expect(s.images).toBe(join(shapes, 'val'));
    await expect(resolveSplit(shapes, 'test')).rejects.toThrow(/shapes\.json: field 'splits': no split 'test' \(have train, val\)/);
    await expect(resolveSplit(join(root, 'nothing'), 'val')).rejects.toThrow(/nothing: data folder not found/);
    await expect(resolveSplit(root, 'val')).rejects.toThrow(/not a data folder: no shapes\.json and none of .*instances_val\.json/);
  });

  it('the TrainData adapter restarts an epoch at any batch with the same batches', async () => {
    const { dataset } = await openDetectionSplit(shapes, 'train', { filterEmpty: true });
    const loader = detectionTrainLoader(dataset, { scale: [64, 64], flipProb: 0.5, batchSize: 2, seed: 7, workers: 0 });
    const data = detectionTrainData(loader);
    expect(data.batchesPerEpoch).toBe(3);
    const before = tf.memory().numTensors;
    const epoch = async (e: number, start: number) => {
      const out: { ids: number[]; sum: number; flips: boolean[] }[] = [];
      for await (const b of data.batches(e, start)) {
        out.push({ ids: b.metas.map((m) => (m as ImageMeta).imageId), sum: tf.tidy(() => b.images.sum().arraySync() as number), flips: b.metas.map((m) => !!m.flip) });
        data.disposeBatch!(b);
      }
      return out;
    };
    const full = await epoch(1, 0);
    expect(full).toHaveLength(3);
    expect(await epoch(1, 2)).toEqual(full.slice(2));
    expect(await epoch(1, 1)).toEqual(full.slice(1));
    // Another epoch is another order.
    expect((await epoch(2, 0)).map((b) => b.ids)).not.toEqual(full.map((b) => b.ids));
    await loader.close();
    expect(tf.memory().numTensors).toBe(before);
  });
});

/** Ground truth of a split as detections: boxes, labels and (column-major) masks of each image. */
function groundTruthPredictor(split: Awaited<ReturnType<typeof openDetectionSplit>>) {
  const { gt } = split;
  const labelOf = new Map(split.categoryIds.map((id, i) => [id, i]));
  return (_images: tf.Tensor4D, metas: readonly ImageMeta[]): Detections[] =>
    metas.map((m) => {
      const img = gt.image(m.imageId)!;
      const rows: number[] = [];
      for (let i = 0; i < gt.annotations.count; i++) if (gt.annotations.imageId[i] === m.imageId && !gt.annotations.iscrowd[i]) rows.push(i);
      const boxes = new Float32Array(4 * rows.length);
      rows.forEach((r, k) => {
        const [x, y, w, h] = gt.annotations.bbox.subarray(4 * r, 4 * r + 4);
        boxes.set([x!, y!, x! + w!, y! + h!], 4 * k);
      });
      const masks = rows.map((r) => {
        const seg = gt.segmentation(r)!;
        const rle = Array.isArray(seg) ? merge(frPyObjects(seg as number[][], img.height, img.width)) : frPyObjects(seg as RleObject, img.height, img.width);
        return decode(rle);
      });
      return {
        boxes,
        scores: Float32Array.from(rows, (_, k) => 1 - k * 0.01),
        labels: Int32Array.from(rows, (r) => labelOf.get(gt.annotations.categoryId[r]!)!),
        masks,
        maskShape: [img.height, img.width] as [number, number],
      };
    });
}

describe('evaluator', () => {
  it('writes valid COCO results and scores predictions equal to the ground truth as AP 1', async () => {
    const split = await openDetectionSplit(shapes, 'val', { withMasks: false });
    const out = join(root, 'eval-run');
    const before = tf.memory().numTensors;
    const r = await evaluateDetections({
      predict: groundTruthPredictor(split),
      dataset: split.dataset,
      gt: split.gt,
      labelToCategoryId: split.categoryIds,
      iouTypes: ['bbox', 'segm'],
      outDir: out,
      scale: [64, 64],
      batchSize: 3,
      progress: false,
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.images).toBe(split.dataset.length);
    const bbox = JSON.parse(readFileSync(join(out, 'results.val.bbox.json'), 'utf8')) as Record<string, unknown>[];
    const segm = JSON.parse(readFileSync(join(out, 'results.val.segm.json'), 'utf8')) as { segmentation: { size: number[]; counts: string } }[];
    expect(bbox.length).toBe(split.gt.annotations.count);
    expect(segm.length).toBe(bbox.length);
    for (const e of bbox) {
      expect(Object.keys(e).sort()).toEqual(['bbox', 'category_id', 'image_id', 'score']);
      expect(split.categoryIds).toContain(e.category_id);
      expect((e.bbox as number[]).length).toBe(4);
    }
    expect(segm[0]!.segmentation.size).toEqual([64, 64]);
    expect(typeof segm[0]!.segmentation.counts).toBe('string');
    for (const t of ['bbox', 'segm'] as const) {
      expect(r[t]!.stats[0]).toBeCloseTo(1, 12);
      expect(r[t]!.stats[1]).toBeCloseTo(1, 12);
      expect(r[t]!.numResults).toBe(bbox.length);
      expect(r[t]!.summary.split('\n')).toHaveLength(12);
      // Means over classes in numpy's order may land one ulp below 1.
      for (const row of r[t]!.perCategory) {
        if (row.numGt === 0) expect(row.AP).toBe(-1);
        else expect(row.AP, row.name).toBeCloseTo(1, 12);
      }
    }
  });

  it('scores an empty prediction as 0 without failing', async () => {
    const split = await openDetectionSplit(shapes, 'val', { withMasks: false });
    const r = await evaluateDetections({
      predict: (_x, metas) => metas.map(() => ({ boxes: new Float32Array(0), scores: new Float32Array(0), labels: new Int32Array(0) })),
      dataset: split.dataset,
      gt: split.gt,
      labelToCategoryId: split.categoryIds,
      iouTypes: ['bbox'],
      outDir: join(root, 'eval-empty'),
      scale: [64, 64],
      progress: false,
    });
    expect(JSON.parse(readFileSync(join(root, 'eval-empty', 'results.val.bbox.json'), 'utf8'))).toEqual([]);
    expect(r.bbox!.stats[0]).toBe(0);
  });
});

describe('training curve', () => {
  it('writes a PNG of the loss terms and the AP, the later record of a resumed iteration winning', async () => {
    const lines: string[] = [];
    for (let it = 10; it <= 200; it += 10) lines.push(JSON.stringify({ type: 'train', iter: it, loss: 2 / Math.sqrt(it), loss_cls: 1.2 / Math.sqrt(it), loss_bbox: 0.8 / Math.sqrt(it), lr: 1e-4 }));
    lines.push(JSON.stringify({ type: 'train', iter: 200, loss: 0.1, loss_cls: 0.06, loss_bbox: 0.04 }));
    lines.push(JSON.stringify({ type: 'eval', iter: 100, bbox_mAP: 0.2, bbox_mAP_50: 0.4, segm_mAP: 0.15 }), '{"truncated', JSON.stringify({ type: 'eval', iter: 200, bbox_mAP: 0.35, bbox_mAP_50: 0.6, segm_mAP: 0.3 }));
    const log = join(root, 'log.jsonl');
    writeFileSync(log, `${lines.join('\n')}\n`);
    const curves = curvesFromLog(readFileSync(log, 'utf8'));
    expect(curves.losses.map((s) => s.name)).toEqual(['loss', 'loss_bbox', 'loss_cls']);
    expect(curves.losses[0]!.xs).toHaveLength(20);
    expect(curves.losses[0]!.ys.at(-1)).toBe(0.1);
    expect(curves.metrics.map((s) => s.name)).toEqual(['bbox_mAP', 'bbox_mAP_50', 'segm_mAP']);
    const png = join(root, 'curve.png');
    await writeTrainingCurve(log, png);
    const bytes = readFileSync(png);
    expect([...bytes.subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    const img = await decodeImage(png);
    expect([img.width, img.height]).toEqual([1040, 360]);
    // Something besides the white background was drawn in both panels.
    const inked = (x0: number, x1: number) => {
      let n = 0;
      for (let y = 0; y < img.height; y++) for (let x = x0; x < x1; x++) if (img.data[(y * img.width + x) * 3]! < 200) n++;
      return n;
    };
    expect(inked(0, 520)).toBeGreaterThan(1000);
    expect(inked(520, 1040)).toBeGreaterThan(1000);
  });
});

describe('checkpoint resume', () => {
  let data: string;
  beforeAll(async () => {
    data = join(root, 'resume-data');
    await writeShapesDataset(data, { images: 8, width: 64, height: 64, seed: 4, valFraction: 0.25, format: 'png' });
    const ds = await openDetectionSplit(data, 'train', { filterEmpty: true });
    expect(Math.ceil(ds.dataset.length / 2)).toBe(3);
  });

  for (const [name, make] of [['RetinaNet', tinyRetina], ['Mask R-CNN', tinyMaskRcnn]] as const) it(`${name}: gives the same parameters as an uninterrupted run`, async () => {
    const config: DetectionRunConfig = { ...make(), data, checkpointEvery: 1 };
    const before = tf.memory().numTensors;

    const full = join(root, `run-full-${name}`);
    const a = await trainDetector(config, { outDir: full, progress: false, finalEval: false });
    expect(a.train.iters).toBe(3);

    // A run interrupted after iteration 1 (mid-epoch): a folder holding only that checkpoint and the log so far.
    const cut = join(root, `run-cut-${name}`);
    mkdirSync(join(cut, 'checkpoints'), { recursive: true });
    cpSync(join(full, 'checkpoints', 'iter_0000001'), join(cut, 'checkpoints', 'iter_0000001'), { recursive: true });
    writeFileSync(join(cut, 'checkpoints', 'latest.json'), JSON.stringify({ checkpoint: 'iter_0000001', iter: 1 }));
    const b = await trainDetector({ data }, { outDir: cut, resume: true, progress: false, finalEval: false });
    expect(b.resumedFrom).toMatch(/iter_0000001$/);
    expect(b.train.iters).toBe(3);
    expect(b.config).toEqual(a.config);
    expect(tf.memory().numTensors).toBe(before);

    const wa = await loadSafetensors(join(full, 'checkpoints', 'iter_0000003', 'model.safetensors'));
    const wb = await loadSafetensors(join(cut, 'checkpoints', 'iter_0000003', 'model.safetensors'));
    expect([...wb.keys()]).toEqual([...wa.keys()]);
    let maxDiff = 0;
    for (const [k, t] of wa) {
      const u = wb.get(k)!.data;
      for (let i = 0; i < t.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(t.data[i]! - u[i]!));
    }
    expect(maxDiff).toBe(0);
    // Training moved the weights (the comparison is not vacuous).
    const w0 = await loadSafetensors(join(full, 'checkpoints', 'iter_0000001', 'model.safetensors'));
    const head = name === 'RetinaNet' ? 'bbox_head.retina_cls.weight' : 'roi_head.bbox_head.fc_cls.weight';
    expect(Buffer.from(w0.get(head)!.data.buffer).equals(Buffer.from(wa.get(head)!.data.buffer))).toBe(false);
  });

  it('refuses to resume on data whose categories differ from the run', async () => {
    const out = join(root, 'run-cats');
    await trainDetector({ ...tinyRetina(), data, epochs: 1 }, { outDir: out, progress: false, finalEval: false });
    // The same images with every category id shifted: same class count, other meaning.
    const other = join(root, 'resume-data-other-ids');
    cpSync(data, other, { recursive: true });
    for (const split of ['train', 'val']) {
      const file = join(other, 'annotations', `instances_${split}.json`);
      const json = JSON.parse(readFileSync(file, 'utf8')) as { categories: { id: number }[]; annotations: { category_id: number }[] };
      for (const c of json.categories) c.id += 10;
      for (const a of json.annotations) a.category_id += 10;
      writeFileSync(file, JSON.stringify(json));
    }
    await expect(trainDetector({ data: other }, { outDir: out, resume: true, progress: false, finalEval: false })).rejects.toThrow(
      /instances_train\.json has categories \[11, 12, .*but the run in .*run-cats was trained on \[1, 2, /,
    );
  });
});
