import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PyDict, PyTuple, loadTorchCheckpoint, saveCheckpoint, seedEverything, setupBackend, tf } from '@partialnet/core';
import { createDetector, type DetectionMeta } from '@partialnet/detection';
import { exportMmdet, importMmdetCheckpoint, openDetectionCheckpoint, resolveRunConfig, type DetectionRunConfig } from '../src/index.js';

const hasPython = (() => {
  try {
    execFileSync('python3', ['-c', 'pass']);
    return true;
  } catch {
    return false;
  }
})();

/** A small Mask R-CNN on a custom PartialNet (embed 16, one block per stage). */
const RUN: DetectionRunConfig = {
  preset: 'mask-rcnn-lite-t0',
  model: { backbone: { config: { embedDim: 16, depths: [1, 1, 1, 1] } } } as never,
  scale: [128, 128],
  optimizer: 'sgd',
  batchSize: 2,
};

describe('mmdetection round trip', () => {
  const root = mkdtempSync(join(tmpdir(), 'mmdet-'));
  const runA = join(root, 'runA');
  const exported = join(root, 'export');
  const runB = join(root, 'runB');

  beforeAll(async () => {
    await setupBackend('wasm');
    seedEverything(3);
    const config = resolveRunConfig(RUN, 3);
    const model = createDetector(config.model);
    await saveCheckpoint(runA, await model.stateDict(), new Map(), {
      iter: 40,
      epoch: 2,
      batchInEpoch: 0,
      randomState: 0,
      extra: { task: 'detection', config, classNames: ['circle', 'square', 'star'], categoryIds: [1, 2, 3] },
    });
    model.dispose();
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('export writes an mmdet checkpoint (meta + state_dict with mmdet names) and a config', async () => {
    const r = await exportMmdet({ checkpoint: runA, outDir: exported });
    const ckpt = (await loadTorchCheckpoint(r.weights)) as PyDict;
    const meta = ckpt.get('meta') as PyDict;
    expect((meta.get('CLASSES') as PyTuple).items).toEqual(['circle', 'square', 'star']);
    expect([meta.get('epoch'), meta.get('iter')]).toEqual([2, 40]);
    const sd = ckpt.get('state_dict') as PyDict;
    expect(sd.ordered).toBe(true);
    for (const n of ['backbone.patch_embed.proj.weight', 'neck.lateral_convs.0.conv.weight', 'rpn_head.rpn_conv.weight', 'roi_head.bbox_head.fc_cls.weight', 'roi_head.mask_head.conv_logits.weight']) {
      expect(sd.has(n), n).toBe(true);
    }
    const text = readFileSync(r.config, 'utf8');
    expect(text).toMatch(/type='PartialNetTS',\s+embed_dim=16,\s+depths=\(1, 1, 1, 1\)/);
    expect(text).toMatch(/in_channels=\[16, 32, 64, 128\]/);
    expect(text).toMatch(/num_classes=3/);
    expect(text).toMatch(/classes = \('circle', 'square', 'star'\)/);
    expect(text).toMatch(/optimizer_config = dict\(grad_clip=None\)/);
    await expect(exportMmdet({ checkpoint: runA, outDir: exported })).rejects.toThrow(/exists; choose another --out/);
  });

  it.skipIf(!hasPython)('the exported config is valid Python whose values equal the run config (python3 runs it)', () => {
    const script = `
import json, runpy
cfg = runpy.run_path(${JSON.stringify(join(exported, 'config.py'))})
m = cfg['model']
print(json.dumps(dict(
  rpn_train=m['train_cfg']['rpn_proposal'], rcnn_sampler=m['train_cfg']['rcnn']['sampler']['num'], mask_size=m['train_cfg']['rcnn']['mask_size'],
  fc=m['roi_head']['bbox_head']['fc_out_channels'], lr=cfg['optimizer']['lr'], opt=cfg['optimizer']['type'], steps=cfg['lr_config']['step'],
  epochs=cfg['runner']['max_epochs'], scale=cfg['train_pipeline'][2]['img_scale'], spg=cfg['data']['samples_per_gpu'],
  neck_out=m['neck']['out_channels'], classes=cfg['classes'])))`;
    const out = JSON.parse(execFileSync('python3', ['-c', script], { encoding: 'utf8' })) as Record<string, unknown>;
    const c = resolveRunConfig(RUN, 3);
    const m = c.model as Extract<typeof c.model, { kind: 'mask-rcnn' }>;
    expect(out).toEqual({
      rpn_train: { nms_pre: m.rpn.train.nmsPre, max_per_img: m.rpn.train.maxPerImg, nms: { type: 'nms', iou_threshold: 0.7 }, min_bbox_size: 0 },
      rcnn_sampler: m.roi.bbox.sampler.num,
      mask_size: 28,
      fc: m.roi.bbox.fcChannels,
      lr: (c.lr * 8 * 2) / 2, // SGD lr for 8 GPUs x 2 images
      opt: 'SGD',
      steps: [8, 11],
      epochs: 12,
      scale: [128, 128],
      spg: 2,
      neck_out: 64,
      classes: ['circle', 'square', 'star'],
    });
  });

  it('import of the exported .pth makes a run whose detections equal the original run bit for bit', async () => {
    const r = await importMmdetCheckpoint({ checkpoint: join(exported, 'model.pth'), config: RUN, outDir: runB });
    expect(r.classNames).toEqual(['circle', 'square', 'star']);
    expect(r.meta).toMatchObject({ epoch: 2, iter: 40, mmdet_version: '2.28.2' });
    const before = tf.memory().numTensors;
    const a = await openDetectionCheckpoint(runA);
    const b = await openDetectionCheckpoint(runB);
    expect(b.info.classNames).toEqual(a.info.classNames);
    expect(b.info.categoryIds).toEqual(a.info.categoryIds);
    expect(b.iter).toBe(40);
    const x = tf.randomUniform([1, 128, 128, 3], -2, 2, 'float32', 7) as tf.Tensor4D;
    const metas: DetectionMeta[] = [{ imgShape: [128, 128], padShape: [128, 128], oriShape: [128, 128], scaleFactor: [1, 1], flip: false }];
    const da = await a.model.predict(x, metas);
    const db = await b.model.predict(x, metas);
    expect(da[0]!.scores.length).toBeGreaterThan(0);
    expect(Array.from(db[0]!.boxes)).toEqual(Array.from(da[0]!.boxes));
    expect(Array.from(db[0]!.scores)).toEqual(Array.from(da[0]!.scores));
    expect(Array.from(db[0]!.labels)).toEqual(Array.from(da[0]!.labels));
    expect(db[0]!.masks!.map((m) => Buffer.from(m).toString('base64'))).toEqual(da[0]!.masks!.map((m) => Buffer.from(m).toString('base64')));
    x.dispose();
    a.model.dispose();
    b.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('import refuses a model that does not fit, a class list of the wrong length, and an existing run', async () => {
    const pth = join(exported, 'model.pth');
    await expect(importMmdetCheckpoint({ checkpoint: pth, preset: 'mask-rcnn-lite-t0', outDir: join(root, 'bad') })).rejects.toThrow(/backbone\.patch_embed\.proj\.weight/);
    const names = join(root, 'names.txt');
    (await import('node:fs')).writeFileSync(names, 'a\nb\n');
    await expect(importMmdetCheckpoint({ checkpoint: pth, config: RUN, classes: names, outDir: join(root, 'bad2') })).rejects.toThrow(/classifier has 3 classes but .*names 2/);
    await expect(importMmdetCheckpoint({ checkpoint: pth, config: RUN, outDir: runB })).rejects.toThrow(/holds a run already/);
  });
});
