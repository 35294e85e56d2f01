import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, setupBackend, tf } from '@partialnet/core';
import { PartialNet } from '@partialnet/backbone';
import { ConvTranspose2x2, FPN, fpnOutputInfo, subsample2 } from '../src/layers.js';
import { getPreset, listPresets, maskRcnnFpn1x, retinanetFpn1x } from '../src/index.js';

const INFO = [
  { name: 'stage1', channels: 6, stride: 4 },
  { name: 'stage2', channels: 10, stride: 8 },
  { name: 'stage3', channels: 12, stride: 16 },
  { name: 'stage4', channels: 14, stride: 32 },
];

function inputs(size: number): tf.Tensor4D[] {
  return INFO.map((f, i) => tf.randomNormal([2, size / f.stride, size / f.stride, f.channels], 0, 1, 'float32', i) as tf.Tensor4D);
}

describe('FPN', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  it('Mask R-CNN style: P2-P6, the extra level by max-pool', async () => {
    const neck = new FPN(INFO, { ...maskRcnnFpn1x().neck, outChannels: 8 });
    const xs = inputs(64);
    const before = tf.memory().numTensors;
    const outs = neck.forward(xs);
    expect(outs.map((o) => o.shape)).toEqual([16, 8, 4, 2, 1].map((s) => [2, s, s, 8]));
    expect(neck.outputInfo.map((f) => f.stride)).toEqual([4, 8, 16, 32, 64]);
    // P6 is P5 subsampled.
    const p5 = tf.slice(outs[3]!, [0, 0, 0, 0], [2, 1, 1, 8]);
    expect(Array.from(outs[4]!.dataSync())).toEqual(Array.from(p5.dataSync()));
    tf.dispose([outs, p5]);
    expect(tf.memory().numTensors).toBe(before);
    expect([...(await neck.stateDict()).keys()]).toEqual([0, 1, 2, 3].flatMap((i) => [`lateral_convs.${i}.conv.weight`, `lateral_convs.${i}.conv.bias`]).concat([0, 1, 2, 3].flatMap((i) => [`fpn_convs.${i}.conv.weight`, `fpn_convs.${i}.conv.bias`])));
    expect((await neck.stateDict()).get('lateral_convs.1.conv.weight')!.shape).toEqual([8, 10, 1, 1]);
    tf.dispose(xs);
    neck.dispose();
  });

  it('RetinaNet style: P3-P7, extra convs on the last input', async () => {
    const neck = new FPN(INFO, { ...retinanetFpn1x().neck, outChannels: 8 });
    const xs = inputs(128);
    const outs = neck.forward(xs);
    expect(outs.map((o) => o.shape)).toEqual([16, 8, 4, 2, 1].map((s) => [2, s, s, 8]));
    expect(fpnOutputInfo(INFO, neck.config).map((f) => [f.name, f.stride])).toEqual([['p3', 8], ['p4', 16], ['p5', 32], ['p6', 64], ['p7', 128]]);
    const dict = await neck.stateDict();
    expect(dict.get('lateral_convs.0.conv.weight')!.shape).toEqual([8, 10, 1, 1]);
    expect(dict.get('fpn_convs.3.conv.weight')!.shape).toEqual([8, 14, 3, 3]);
    expect(dict.get('fpn_convs.4.conv.weight')!.shape).toEqual([8, 8, 3, 3]);
    expect(dict.has('fpn_convs.5.conv.weight')).toBe(false);
    tf.dispose([outs, xs]);
    neck.dispose();
  });

  it('is built from a PartialNet featureInfo and trains end to end: the loss falls and the backbone moves', () => {
    const net = PartialNet.create({ embedDim: 16, depths: [1, 1, 2, 1], numClasses: 0 });
    const neck = new FPN(net.featureInfo(), { outChannels: 16, startLevel: 0, numOuts: 5, extra: 'maxpool' });
    const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    // Fixed random targets for every pyramid level: a regression only gradients through all of it can fit.
    const targets = tf.tidy(() => neck.forward(net.features(x)).map((o, i) => tf.randomNormal(o.shape, 0, 1, 'float32', 10 + i)));
    const params = [...neck.parameters(), ...net.parameters()];
    const optimizer = new AdamW(params, { lr: 1e-2, weightDecay: 0 });
    const stem = net.parameters()[0]!;
    const stemBefore = stem.dataSync().slice();
    const before = tf.memory().numTensors;
    const losses: number[] = [];
    for (let step = 0; step < 10; step++) {
      const { value, grads } = tf.variableGrads(
        () => tf.tidy(() => neck.forward(net.features(x)).reduce((a: tf.Scalar, o, i) => tf.add(a, tf.mean(tf.square(tf.sub(o, targets[i]!)))), tf.scalar(0))),
        params,
      );
      expect(Object.keys(grads).length).toBe(params.length);
      optimizer.step(grads);
      losses.push(value.dataSync()[0]!);
      tf.dispose([value, grads]);
    }
    expect(tf.memory().numTensors).toBe(before + optimizer.params.length * 2);
    // Measured on wasm: 17.7 at the first step, 4.1 after ten (x0.23); half is the bar.
    expect(losses[9]!).toBeLessThan(0.5 * losses[0]!);
    expect(Array.from(stem.dataSync()).some((v, i) => v !== stemBefore[i])).toBe(true);
    tf.dispose([x, targets]);
    optimizer.dispose();
    neck.dispose();
    net.dispose();
  });
});

describe('layers', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('ConvTranspose2x2 equals tf.conv2dTranspose with the same filter', async () => {
    const layer = new ConvTranspose2x2(3, 5);
    const x = tf.randomNormal([2, 3, 4, 3]) as tf.Tensor4D;
    const got = layer.forward(x);
    const want = tf.tidy(() => tf.add(tf.conv2dTranspose(x, layer.weight as tf.Tensor4D, [2, 6, 8, 5], 2, 'valid'), layer.bias));
    const g = got.dataSync();
    const w = want.dataSync();
    for (let i = 0; i < w.length; i++) expect(g[i]!).toBeCloseTo(w[i]!, 4);
    expect((await layer.stateDict()).get('weight')!.shape).toEqual([3, 5, 2, 2]);
    tf.dispose([x, got, want]);
    layer.dispose();
  });

  it('subsample2 takes every other pixel, odd sizes included', () => {
    const x = tf.range(0, 2 * 5 * 3 * 2).reshape([2, 5, 3, 2]) as tf.Tensor4D;
    const got = subsample2(x);
    const want = tf.stridedSlice(x, [0, 0, 0, 0], [2, 5, 3, 2], [1, 2, 2, 1]);
    expect(got.shape).toEqual([2, 3, 2, 2]);
    expect(Array.from(got.dataSync())).toEqual(Array.from(want.dataSync()));
    tf.dispose([x, got, want]);
  });
});

describe('presets', () => {
  it('are listed by name and carry mmdet defaults', () => {
    const names = listPresets();
    for (const n of ['mask-rcnn-t0', 'retinanet-s', 'mask-rcnn-l', 'retinanet-t0']) expect(names).toContain(n);
    expect(() => getPreset('faster-rcnn-t0')).toThrow(/known presets: .*mask-rcnn-t0/);
    const m = getPreset('mask-rcnn-s');
    expect(m.kind).toBe('mask-rcnn');
    expect(m.backbone.variant).toBe('s');
    if (m.kind !== 'mask-rcnn') return;
    expect(m.rpn.train).toEqual({ nmsPre: 2000, maxPerImg: 1000, iouThr: 0.7 }); // mmdet 2.x rpn_proposal in train_cfg
    expect(m.rpn.test.maxPerImg).toBe(1000);
    expect(m.roi.bbox.coder.stds).toEqual([0.1, 0.1, 0.2, 0.2]);
    const r = retinanetFpn1x({ backbone: 't0', numClasses: 5 });
    expect(r.numClasses).toBe(5);
    expect(r.head.test).toEqual({ nmsPre: 1000, scoreThr: 0.05, iouThr: 0.5, maxPerImg: 100 });
    // Configs are plain data: they survive a JSON round trip (saved with checkpoints).
    expect(JSON.parse(JSON.stringify(m))).toEqual(m);
  });
});
