import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tf } from '@partialnet/core';
import { selectBoxes } from '@partialnet/data/boxes';
import { AnchorGenerator, DeltaXYWHCoder, MaxIoUAssigner } from '../src/ops.js';
import { RetinaHead } from '../src/layers.js';
import { retinanetFpn1x } from '../src/index.js';

describe('RetinaHead targets and losses', () => {
  const K = 3;
  const preset = retinanetFpn1x().head;
  let head: RetinaHead;
  beforeAll(async () => {
    await setupBackend('wasm');
    head = new RetinaHead({ ...preset, numClasses: K, inChannels: 4, featChannels: 4, stackedConvs: 1, anchor: { ...preset.anchor, strides: [8] } });
  });
  afterAll(() => head.dispose());
  const H = 8;
  const W = 8;
  const A = 9;
  const gt = Float32Array.from([10, 12, 50, 40]);
  const targets = [{ boxes: gt, labels: Int32Array.from([2]) }];
  const metas = [{ imgShape: [64, 64] as [number, number] }];

  it('normalises the focal loss by positives and lays targets out as the head output', () => {
    const anchors = new AnchorGenerator({ ...preset.anchor, strides: [8] }).gridAnchors(0, H, W);
    const assign = new MaxIoUAssigner(preset.assigner).assign(anchors, gt, [2]);
    const pos = [...assign.gtInds.keys()].filter((i) => assign.gtInds[i]! > 0);
    const ignored = [...assign.gtInds].filter((v) => v < 0).length;
    expect(pos.length).toBeGreaterThan(0);
    // Regression outputs equal to the exact targets at the positive anchors, in the head's
    // [1, H, W, A * 4] layout: the box loss must vanish.
    const deltas = new DeltaXYWHCoder().encode(selectBoxes(anchors, pos), selectBoxes(gt, pos.map(() => 0)));
    const reg = new Float32Array(H * W * A * 4);
    pos.forEach((i, j) => reg.set(deltas.subarray(4 * j, 4 * j + 4), 4 * i));
    const before = tf.memory().numTensors;
    const cls = tf.zeros([1, H, W, A * K]) as tf.Tensor4D;
    const regT = tf.tensor4d(reg, [1, H, W, A * 4]);
    const losses = head.loss([cls], [regT], targets, metas);
    const ln2 = Math.log(2);
    const valid = H * W * A - ignored;
    const expected = (valid * K * 0.75 * 0.25 * ln2 - pos.length * 0.5 * 0.25 * ln2) / pos.length;
    expect(losses.loss_cls!.dataSync()[0]!).toBeCloseTo(expected, 3);
    expect(losses.loss_bbox!.dataSync()[0]!).toBeCloseTo(0, 5);
    // Zero regression: L1 of the targets over the positives, / positives.
    const zero = tf.zerosLike(regT) as tf.Tensor4D;
    const l = head.loss([cls], [zero], targets, metas);
    expect(l.loss_bbox!.dataSync()[0]!).toBeCloseTo(deltas.reduce((s, v) => s + Math.abs(v), 0) / pos.length, 4);
    tf.dispose([cls, regT, zero, losses, l]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('predicts a box where the logits are high, and nothing below the score threshold', async () => {
    const anchors = new AnchorGenerator({ ...preset.anchor, strides: [8] }).gridAnchors(0, H, W);
    const cls = new Float32Array(H * W * A * K).fill(-10);
    const best = (3 * W + 2) * A + 4; // cell (3, 2), anchor 4 (ratio 1, middle scale)
    cls[best * K + 1] = 5;
    const clsT = tf.tensor4d(cls, [1, H, W, A * K]);
    const regT = tf.zeros([1, H, W, A * 4]) as tf.Tensor4D;
    const dets = await head.predict([clsT], [regT], [{ imgShape: [64, 64], oriShape: [128, 128], scaleFactor: [0.5, 0.5] }]);
    expect(dets[0]!.labels.length).toBe(1);
    expect(dets[0]!.labels[0]).toBe(1);
    expect(dets[0]!.scores[0]).toBeCloseTo(1 / (1 + Math.exp(-5)), 5);
    const a = Array.from(anchors.subarray(4 * best, 4 * best + 4)).map((v) => Math.min(Math.max(v, 0), 64) * 2);
    expect(Array.from(dets[0]!.boxes).map((v) => +v.toFixed(3))).toEqual(a.map((v) => +v.toFixed(3)));
    tf.dispose([clsT, regT]);
  });
});
