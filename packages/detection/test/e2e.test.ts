import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tf } from '@partialnet/core';
import { createDetector, getPreset, totalLoss, type Detector, type MaskRcnnConfig, type RetinaNetConfig } from '../src/index.js';
import { tinyTargets } from './helpers.js';

const SIZE = 128;

/** Presets at full width but with a small class count so that the smoke test stays fast. */
function configs(): [string, RetinaNetConfig | MaskRcnnConfig][] {
  const retina = getPreset('retinanet-t0', { numClasses: 3 }) as RetinaNetConfig;
  const mask = getPreset('mask-rcnn-t0', { numClasses: 3 }) as MaskRcnnConfig;
  // Fewer proposals and RoIs keep the host-side RoIAlign small at this size.
  mask.rpn.train = { ...mask.rpn.train, nmsPre: 500, maxPerImg: 300 };
  mask.rpn.test = { ...mask.rpn.test, nmsPre: 300, maxPerImg: 100 };
  // The mask head costs ~0.5 GFLOP per RoI: few samples and detections keep this test short.
  mask.roi.bbox.sampler = { ...mask.roi.bbox.sampler, num: 64 };
  mask.roi.test = { ...mask.roi.test, maxPerImg: 10 };
  return [
    ['RetinaNet-T0', retina],
    ['Mask R-CNN-T0', mask],
  ];
}

describe('frozen backbone stages', () => {
  it('leaves frozen parameters out and keeps their modules in inference mode', () => {
    const config = getPreset('retinanet-t0', { numClasses: 2 }) as RetinaNetConfig;
    const model = createDetector({ ...config, backbone: { ...config.backbone, frozenStages: 1 } });
    model.train();
    const trainable = new Set(model.parameters());
    const names = [...model.namedParameters()];
    const frozen = names.filter(([, v]) => !trainable.has(v)).map(([n]) => n);
    expect(frozen.length).toBeGreaterThan(0);
    expect(frozen.every((n) => n.startsWith('backbone.patch_embed.') || n.startsWith('backbone.stages.0.'))).toBe(true);
    expect(names.some(([n, v]) => n.startsWith('backbone.stages.1.') && trainable.has(v))).toBe(true);
    expect(model.backbone.patchEmbed.isTraining).toBe(false);
    expect(model.backbone.stages[1]!.isTraining).toBe(true);
    model.dispose();
  });
});

describe('detectors end to end on wasm', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  for (const [name, config] of configs()) {
    describe(name, () => {
      let model: Detector;
      beforeAll(() => {
        model = createDetector(config);
      });
      afterAll(() => model.dispose());

      it('trains one step (forward + backward) with finite losses and no tensor growth', async () => {
        model.train();
        const { targets, metas } = tinyTargets(SIZE);
        const images = tf.randomNormal([2, SIZE, SIZE, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
        const counts: number[] = [];
        const expected = config.kind === 'retinanet' ? ['loss_bbox', 'loss_cls'] : ['loss_bbox', 'loss_cls', 'loss_mask', 'loss_rpn_bbox', 'loss_rpn_cls'];
        for (let it = 0; it < 2; it++) {
          const named: Record<string, number> = {};
          const batch = { images, targets, metas };
          await model.prepare(batch);
          const { value, grads } = tf.variableGrads(() => {
            const losses = model.forward(batch);
            for (const [k, v] of Object.entries(losses)) named[k] = v.dataSync()[0]!;
            return totalLoss(losses);
          }, model.parameters());
          expect(Object.keys(named).sort()).toEqual(expected);
          for (const v of Object.values(named)) expect(Number.isFinite(v)).toBe(true);
          expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
          const gradNorm = tf.tidy(() => Object.values(grads).reduce((a: tf.Scalar, g) => tf.add(a, tf.sum(tf.square(g))), tf.scalar(0)).dataSync()[0]!);
          expect(Number.isFinite(gradNorm)).toBe(true);
          expect(gradNorm).toBeGreaterThan(0);
          // Heads and the backbone's first layer all receive gradients.
          const named_params = [...model.namedParameters()];
          const withGrad = named_params.filter(([, v]) => grads[v.name]);
          expect(withGrad.some(([n]) => n.startsWith('backbone.patch_embed'))).toBe(true);
          expect(withGrad.some(([n]) => n.startsWith('neck.'))).toBe(true);
          tf.dispose([value, grads]);
          counts.push(tf.memory().numTensors);
        }
        images.dispose();
        expect(counts[1]).toBe(counts[0]);
      });

      it('trains on a batch without any ground truth', async () => {
        model.train();
        const { metas } = tinyTargets(SIZE);
        const empty = { boxes: new Float32Array(0), labels: new Int32Array(0), ignoreBoxes: new Float32Array(0), masks: [] };
        const before = tf.memory().numTensors;
        const images = tf.randomNormal([2, SIZE, SIZE, 3], 0, 1, 'float32', 8) as tf.Tensor4D;
        const named: Record<string, number> = {};
        const batch = { images, targets: [empty, empty], metas };
        await model.prepare(batch);
        const { value, grads } = tf.variableGrads(() => {
          const losses = model.forward(batch);
          for (const [k, v] of Object.entries(losses)) named[k] = v.dataSync()[0]!;
          return totalLoss(losses);
        }, model.parameters());
        for (const v of Object.values(named)) expect(Number.isFinite(v)).toBe(true);
        expect(named.loss_bbox).toBe(0);
        if (config.kind === 'mask-rcnn') expect(named.loss_mask).toBe(0);
        expect(named.loss_cls!).toBeGreaterThan(0);
        tf.dispose([value, grads, images]);
        expect(tf.memory().numTensors).toBe(before);
      });

      it('uses mmdet parameter names and PyTorch layouts', async () => {
        const dict = await model.stateDict();
        const shape = (k: string) => dict.get(k)?.shape;
        expect(shape('neck.lateral_convs.0.conv.weight')).toEqual(config.kind === 'retinanet' ? [256, 64, 1, 1] : [256, 32, 1, 1]);
        expect(shape('neck.fpn_convs.0.conv.bias')).toEqual([256]);
        expect(shape('backbone.patch_embed.proj.weight')).toEqual([32, 3, 4, 4]);
        if (config.kind === 'retinanet') {
          expect(shape('neck.fpn_convs.3.conv.weight')).toEqual([256, 256, 3, 3]);
          expect(shape('bbox_head.cls_convs.3.conv.weight')).toEqual([256, 256, 3, 3]);
          expect(shape('bbox_head.retina_cls.weight')).toEqual([27, 256, 3, 3]);
          expect(shape('bbox_head.retina_reg.weight')).toEqual([36, 256, 3, 3]);
          const bias = dict.get('bbox_head.retina_cls.bias')!.data[0]!;
          expect(bias).toBeCloseTo(-Math.log(99), 4);
        } else {
          expect(shape('rpn_head.rpn_conv.weight')).toEqual([256, 256, 3, 3]);
          expect(shape('rpn_head.rpn_cls.weight')).toEqual([3, 256, 1, 1]);
          expect(shape('rpn_head.rpn_reg.weight')).toEqual([12, 256, 1, 1]);
          expect(shape('roi_head.bbox_head.shared_fcs.0.weight')).toEqual([1024, 256 * 49]);
          expect(shape('roi_head.bbox_head.fc_cls.weight')).toEqual([4, 1024]);
          expect(shape('roi_head.bbox_head.fc_reg.weight')).toEqual([12, 1024]);
          expect(shape('roi_head.mask_head.convs.3.conv.weight')).toEqual([256, 256, 3, 3]);
          expect(shape('roi_head.mask_head.upsample.weight')).toEqual([256, 256, 2, 2]);
          expect(shape('roi_head.mask_head.conv_logits.weight')).toEqual([3, 256, 1, 1]);
        }
      });

      it('predicts valid detections in original coordinates', async () => {
        model.eval();
        const { metas } = tinyTargets(SIZE);
        const images = tf.randomNormal([2, SIZE, SIZE, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
        const before = tf.memory().numTensors;
        const dets = await model.predict(images, metas);
        expect(tf.memory().numTensors).toBe(before);
        images.dispose();
        expect(dets).toHaveLength(2);
        dets.forEach((d, i) => {
          const n = d.scores.length;
          expect(d.boxes.length).toBe(4 * n);
          expect(d.labels.length).toBe(n);
          expect(n).toBeLessThanOrEqual(100);
          const [oh, ow] = metas[i]!.oriShape!;
          for (let j = 0; j < n; j++) {
            expect(d.scores[j]!).toBeGreaterThan(0.05);
            expect(d.labels[j]!).toBeGreaterThanOrEqual(0);
            expect(d.labels[j]!).toBeLessThan(3);
            expect(d.boxes[4 * j]!).toBeGreaterThanOrEqual(0);
            expect(d.boxes[4 * j + 2]!).toBeLessThanOrEqual(ow);
            expect(d.boxes[4 * j + 3]!).toBeLessThanOrEqual(oh);
            if (j > 0) expect(d.scores[j]!).toBeLessThanOrEqual(d.scores[j - 1]!);
          }
          if (config.kind === 'mask-rcnn') {
            expect(d.masks).toHaveLength(n);
            expect(d.maskShape).toEqual([oh, ow]);
            for (const m of d.masks!) expect(m.length).toBe(oh * ow);
          } else {
            expect(d.masks).toBeUndefined();
          }
        });
      });
    });
  }
});
