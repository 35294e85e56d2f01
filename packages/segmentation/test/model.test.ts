import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tf } from '@partialnet/core';
import { SemanticFPN, createSegmenter, getSegPreset, listSegPresets, segCrossEntropy, slideLogits, slideWindows } from '../src/index.js';
import { testBackends, tinyConfig } from './helpers.js';

const backends = await testBackends();

describe('presets', () => {
  it('semantic-fpn-<v> and semantic-fpn-lite-<v> for t0 t1 t2 s m l, mmseg fpn_r50 settings', () => {
    expect(listSegPresets()).toEqual(['t0', 't1', 't2', 's', 'm', 'l'].flatMap((v) => [`semantic-fpn-${v}`, `semantic-fpn-lite-${v}`]));
    const c = getSegPreset('semantic-fpn-s', 150);
    expect(c.neck).toEqual({ outChannels: 256, startLevel: 0, numOuts: 4, extra: 'maxpool' });
    expect(c.head).toMatchObject({ channels: 128, dropoutRatio: 0.1, ignoreIndex: 255 });
    expect(c.backbone.variant).toBe('s');
    expect(() => getSegPreset('semantic-fpn-x')).toThrow(/unknown segmentation preset/);
  });
});

describe('SemanticFPN structure', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  it('state dict uses mmseg names and T0 has the parameter count of the formula', async () => {
    const model = createSegmenter('semantic-fpn-t0', 150);
    const names = [...(await model.stateDict()).keys()];
    for (const n of [
      'backbone.patch_embed.proj.weight',
      'neck.lateral_convs.0.conv.weight',
      'neck.lateral_convs.3.conv.bias',
      'neck.fpn_convs.3.conv.weight',
      'decode_head.scale_heads.0.0.conv.weight',
      'decode_head.scale_heads.0.0.bn.running_var',
      'decode_head.scale_heads.1.0.bn.weight',
      'decode_head.scale_heads.2.2.conv.weight',
      'decode_head.scale_heads.3.4.conv.weight',
      'decode_head.conv_seg.weight',
      'decode_head.conv_seg.bias',
    ]) expect(names).toContain(n);
    // Upsample layers (odd indices) have no parameters; the conv of a ConvModule with a norm has no bias.
    expect(names.filter((n) => /scale_heads\.\d\.[1357]\./.test(n))).toEqual([]);
    expect(names.filter((n) => /scale_heads.*conv\.bias/.test(n))).toEqual([]);
    expect(names.filter((n) => /^decode_head\.scale_heads\.(\d)\.\d\.conv\.weight$/.test(n)).length).toBe(1 + 1 + 2 + 3);
    // Parameters = backbone + FPN (1x1 laterals, 3x3 outputs, biased) + 7 conv-BN stages + classifier.
    const backbone = model.backbone.numParameters();
    const widths = model.backbone.featureInfo().map((f) => f.channels);
    const neck = widths.reduce((s, c) => s + c * 256 + 256, 0) + 4 * (9 * 256 * 256 + 256);
    const head = 4 * (9 * 256 * 128 + 2 * 128) + 3 * (9 * 128 * 128 + 2 * 128) + (128 * 150 + 150);
    expect(model.numParameters()).toBe(backbone + neck + head);
    model.dispose();
  });

  it('any custom PartialNet config is accepted as backbone, and bad class counts are refused', () => {
    const m = new SemanticFPN(tinyConfig(3));
    expect(m.backbone.config.embedDim).toBe(16);
    m.dispose();
    expect(() => new SemanticFPN(tinyConfig(300))).toThrow(/numClasses must be an integer in 1..255/);
  });

  it('state dict round trip is exact', async () => {
    const a = new SemanticFPN(tinyConfig());
    const b = new SemanticFPN(tinyConfig());
    b.loadStateDict(await a.stateDict());
    a.eval();
    b.eval();
    const x = tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const [la, lb] = [a.logits(x), b.logits(x)];
    expect(Array.from(await la.data())).toEqual(Array.from(await lb.data()));
    tf.dispose([x, la, lb]);
    a.dispose();
    b.dispose();
  });
});

describe('sliding windows', () => {
  it("visits mmseg's grid: the last window shifted back inside, a crop at least the image is one window", () => {
    expect(slideWindows(100, 70, [64, 64], [40, 40])).toEqual([
      [0, 0, 64, 64],
      [0, 6, 64, 70],
      [36, 0, 100, 64],
      [36, 6, 100, 70],
    ]);
    expect(slideWindows(50, 60, [64, 64], [32, 32])).toEqual([[0, 0, 50, 60]]);
  });
});

for (const b of backends) {
  describe.skipIf(!b.available)(`Semantic FPN on ${b.name}${b.available ? '' : ` (unavailable: ${b.reason ?? 'not found'})`}`, () => {
    beforeAll(async () => {
      await setupBackend(b.name);
    });
    afterAll(async () => {
      await setupBackend('wasm');
    });

    it('head logits at stride 4, logits at the input size, also for sizes that are not multiples of 32', () => {
      const model = new SemanticFPN(tinyConfig(5));
      model.eval();
      const before = tf.memory().numTensors;
      for (const [h, w] of [[64, 96], [72, 100]] as const) {
        const x = tf.randomNormal([2, h, w, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
        const head = model.headLogits(x);
        const full = model.logits(x);
        expect(head.shape).toEqual([2, Math.ceil(h / 4), Math.ceil(w / 4), 5]);
        expect(full.shape).toEqual([2, h, w, 5]);
        tf.dispose([x, head, full]);
      }
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();
    });

    it('training: finite named loss, a gradient for every parameter, no leaked tensors', async () => {
      const model = new SemanticFPN(tinyConfig(4));
      model.train();
      const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
      const labels = new Uint8Array(2 * 64 * 64).map((_, i) => (i % 7 === 0 ? 255 : i % 4));
      const before = tf.memory().numTensors;
      const params = model.parameters();
      let names: string[] = [];
      const { value, grads } = tf.variableGrads(() => {
        const losses = model.forward({ images: x, labels });
        names = Object.keys(losses);
        return losses['decode.loss_ce']!;
      }, params);
      expect(names).toEqual(['decode.loss_ce']);
      const loss = (await value.data())[0]!;
      expect(Number.isFinite(loss)).toBe(true);
      expect(loss).toBeGreaterThan(0);
      expect(Object.keys(grads).length).toBe(params.length);
      const entries = Object.entries(grads);
      const maxAbs = tf.tidy(() => tf.stack(entries.map(([, g]) => tf.max(tf.abs(g)))));
      const m = await maxAbs.data();
      maxAbs.dispose();
      expect(entries.filter((_, i) => m[i] === 0).map(([n]) => n)).toEqual([]);
      tf.dispose([value, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);
      expect(() => model.forward({ images: x, labels: new Uint8Array(2 * 64 * 64).fill(9) })).toThrow(/label 9 .* neither a class/);
      x.dispose();
      model.dispose();
    });

    it('slide inference equals whole-image inference for a per-pixel model, and for the network when one crop covers the image', async () => {
      const w = tf.randomNormal([3, 4], 0, 1, 'float32', 5) as tf.Tensor2D;
      const perPixel = (x: tf.Tensor4D) => tf.tidy(() => tf.reshape(tf.matMul(tf.reshape(x, [-1, 3]), w), [...x.shape.slice(0, 3), 4]) as tf.Tensor4D);
      const x = tf.randomNormal([2, 70, 90, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
      const before = tf.memory().numTensors;
      const whole = perPixel(x);
      const slid = slideLogits(x, [32, 48], [20, 30], perPixel);
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(whole, slid))));
      expect((await diff.data())[0]).toBeLessThan(1e-5);
      tf.dispose([whole, slid, diff]);
      expect(tf.memory().numTensors).toBe(before);

      const model = new SemanticFPN(tinyConfig(3));
      model.eval();
      const a = model.inferenceLogits(x, { mode: 'whole' });
      const s = model.inferenceLogits(x, { mode: 'slide', crop: [96, 96], stride: [64, 64] });
      const d2 = tf.tidy(() => tf.max(tf.abs(tf.sub(a, s))));
      expect((await d2.data())[0]).toBe(0);
      tf.dispose([a, s, d2, x, w]);
      model.dispose();
    });

    it('predict: label maps at the original size; flip TTA averages the softmax of the image and its mirror', async () => {
      const model = new SemanticFPN(tinyConfig(3));
      model.eval();
      const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 8) as tf.Tensor4D;
      const before = tf.memory().numTensors;
      const preds = await model.predict(x, [
        { imgShape: [64, 64], oriShape: [128, 100], flip: false },
        { imgShape: [48, 64], oriShape: [48, 64], flip: true },
      ]);
      expect(preds.map((p) => [p.width, p.height, p.data.length])).toEqual([[100, 128, 12800], [64, 48, 3072]]);
      expect(preds.every((p) => p.data.every((v) => v < 3))).toBe(true);
      const tta = model.probabilities(x, { flip: true });
      const ref = tf.tidy(() => tf.div(tf.add(tf.softmax(model.logits(x)), tf.reverse(tf.softmax(model.logits(tf.reverse(x, 2))), 2)), 2));
      const d = tf.tidy(() => tf.max(tf.abs(tf.sub(tta, ref))));
      expect((await d.data())[0]).toBeLessThan(1e-6);
      const ms = model.probabilities(x, { scales: [0.75, 1, 1.5], flip: true });
      expect(ms.shape).toEqual([2, 64, 64, 3]);
      const range = tf.tidy(() => {
        const sums = tf.sum(ms, 3);
        return tf.stack([tf.min(sums), tf.max(sums)]);
      });
      const [mn, mx] = await range.data();
      expect([mn!, mx!].every((v) => Math.abs(v - 1) < 1e-5)).toBe(true);
      tf.dispose([tta, ref, d, ms, range]);
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
      model.dispose();
    });
  });
}

describe('segCrossEntropy', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  it('matches a per-pixel host computation; ignored pixels add nothing and get no gradient', async () => {
    const [n, h, w, k] = [2, 3, 4, 5];
    const logits = tf.randomNormal([n, h, w, k], 0, 2, 'float32', 11) as tf.Tensor4D;
    const labelsHost = Int32Array.from({ length: n * h * w }, (_, i) => (i % 5 === 2 ? 255 : (i * 3) % k));
    const labels = tf.tensor3d(labelsHost, [n, h, w], 'int32');
    const lg = await logits.data();
    let sum = 0;
    let valid = 0;
    for (let p = 0; p < n * h * w; p++) {
      if (labelsHost[p] === 255) continue;
      const row = Array.from(lg.subarray(p * k, p * k + k));
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
      sum += lse - row[labelsHost[p]!]!;
      valid++;
    }
    const before = tf.memory().numTensors;
    const all = segCrossEntropy(logits, labels);
    const nonIgnore = segCrossEntropy(logits, labels, { avgNonIgnore: true });
    expect((await all.data())[0]).toBeCloseTo(sum / (n * h * w), 5);
    expect((await nonIgnore.data())[0]).toBeCloseTo(sum / valid, 5);
    const g = tf.grad((z: tf.Tensor) => segCrossEntropy(z as tf.Tensor4D, labels))(logits);
    const gh = await g.data();
    for (let p = 0; p < n * h * w; p++) {
      const rowAbs = Array.from(gh.subarray(p * k, p * k + k)).reduce((s, v) => s + Math.abs(v), 0);
      if (labelsHost[p] === 255) expect(rowAbs).toBe(0);
      else expect(rowAbs).toBeGreaterThan(0);
    }
    tf.dispose([all, nonIgnore, g]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([logits, labels]);
  });
});
