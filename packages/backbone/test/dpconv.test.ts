import { afterEach, beforeAll, beforeEach, describe, expect, it as itOn } from 'vitest';
import { conv2d, crossEntropy, parseSafetensors, rememberHostValues, serializeSafetensors } from '@partialnet/core';
import { DPConv, bakeSplitsDetailed, combineDPConvLoss, complexityExponent, dpconvLayers, dpconvLosses, kroneckerMaskHost, steSign } from '../src/dpconv-internals.js';
import { PartialConv } from '../src/layers.js';
import { bakeSplits, dpconvLossTerms, formatSplitTable, learnedSplits, setDPConvEpoch } from '../src/index.js';
import { PartialNet, setupBackend, tf } from './deps.js';
import { TEST_BACKENDS } from './backends.js';
import { maxDiff, scalarOf, values } from './compare.js';

/** Writes gate values; the host knows them, as after syncDPConv. */
function setGates(layer: DPConv, gates: number[]): void {
  tf.tidy(() => layer.gate.assign(tf.tensor1d(gates)));
  rememberHostValues(layer.gate, Float32Array.from(gates));
}

const tiny = { embedDim: 8, depths: [1, 1, 1, 1], channelAttn: false, spatialAttn: false, numClasses: 3, featureDim: 16, autoDiv: true } as const;

describe.each(TEST_BACKENDS)('DPConv on $name', ({ name, skip }) => {
  // Every test is listed, and skipped with the reason, on a backend this machine lacks.
  const it = itOn.skipIf(skip !== undefined);
  let before = 0;
  beforeAll(async () => {
    if (!skip) await setupBackend(name);
  });
  beforeEach(() => {
    before = tf.memory().numTensors;
  });
  afterEach(() => {
    if (!skip) expect(tf.memory().numTensors).toBe(before);
  });

  it('builds the mask as the Kronecker product of 2x2 ones / identity blocks', async () => {
    const layer = new DPConv(4);
    // gate < 0 -> identity, gate > 0 -> ones: I ⊗ ones = two diagonal 2x2 blocks.
    setGates(layer, [-0.3, 0.4]);
    const expected = [
      [1, 1, 0, 0],
      [1, 1, 0, 0],
      [0, 0, 1, 1],
      [0, 0, 1, 1],
    ];
    let u = layer.mask();
    expect(await u.array()).toEqual(expected);
    u.dispose();
    // ones ⊗ I: channel i talks to channels of the same parity.
    setGates(layer, [0.4, -0.3]);
    u = layer.mask();
    expect(await u.array()).toEqual([
      [1, 0, 1, 0],
      [0, 1, 0, 1],
      [1, 0, 1, 0],
      [0, 1, 0, 1],
    ]);
    u.dispose();
    layer.dispose();

    const big = new DPConv(16);
    for (const gates of [
      [-1e-8, -1e-8, 1e-8, 1e-8],
      [0.5, -0.2, 0.1, -0.9],
      [-0.5, 0, 0.5, 0.7],
      [0.1, 0.2, 0.3, 0.4],
    ]) {
      setGates(big, gates);
      const m = big.mask();
      const host = kroneckerMaskHost(gates.map((g) => (Math.sign(g) + 1) / 2));
      expect(await values(m)).toEqual(Array.from(host));
      m.dispose();
    }
    // The default init encodes nDiv = 4 in the legal order: I ⊗ I ⊗ ones(4) = 4 diagonal blocks.
    const fresh = new DPConv(16);
    expect(fresh.states()).toEqual([0, 0, 1, 1]);
    const m = fresh.mask();
    const a = (await m.array()) as number[][];
    for (let o = 0; o < 16; o++) for (let i = 0; i < 16; i++) expect(a[o]![i]).toBe(Math.floor(o / 4) === Math.floor(i / 4) ? 1 : 0);
    m.dispose();
    big.dispose();
    fresh.dispose();
    const scaled = new DPConv(8, { gateInitScale: 0.5, nDiv: 2 });
    expect(await values(scaled.gate)).toEqual([-0.5, 0.5, 0.5]);
    scaled.dispose();
    expect(() => new DPConv(8, { gateInitScale: 1 })).toThrow(/gateInitScale/);
  });

  it('passes gradients straight through sign where |g| < 1', async () => {
    const g = tf.tensor1d([-1.5, -1, -0.5, 0.2, 0.99, 1, 3]);
    const w = tf.tensor1d([1, 2, 3, 4, 5, 6, 7]);
    const grad = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(steSign(x), w)))(g);
    expect(await values(grad)).toEqual([0, 0, 3, 4, 5, 0, 0]);
    const value = steSign(g);
    expect(await values(value)).toEqual([-1, -1, -1, 1, 1, 1, 1]);
    tf.dispose([g, w, grad, value]);

    // Through the layer: d(sum of masked conv)/d gate is nonzero for small gates, zero when |g| >= 1.
    const layer = new DPConv(8);
    setGates(layer, [-0.5, 0.5, 2]);
    const x = tf.randomNormal([1, 5, 5, 8], 0, 1, 'float32', 1) as tf.Tensor4D;
    const { value: v, grads } = tf.variableGrads(() => tf.sum(tf.square(layer.forward(x))) as tf.Scalar, [layer.gate]);
    const gg = await values(grads[layer.gate.name]!);
    expect(gg[0]).not.toBe(0);
    expect(gg[1]).not.toBe(0);
    expect(gg[2]).toBe(0);
    tf.dispose([x, v, grads]);
    layer.dispose();
  });

  it('gates at +-1e-8 (the official init) take their sign: mask I⊗1⊗I⊗I, R = 32 (issue 14)', async () => {
    // wasm's Sign kernel returned 0 below ~1.2e-7, so every s was 0.5 there: R = 64, mask entries 0.5.
    const layer = new DPConv(16);
    const gates = [-1e-8, 1e-8, -1e-8, -1e-8];
    setGates(layer, gates);
    const sign = steSign(layer.gate);
    expect(await values(sign)).toEqual([-1, 1, -1, -1]);
    const u = layer.mask();
    expect(await values(u)).toEqual(Array.from(kroneckerMaskHost([0, 1, 0, 0])));
    const r = layer.regularizer();
    expect(await scalarOf(r)).toBeCloseTo(32, 4);
    // The layer agrees with itself: the host-side split (c_div 8) and the device-side mask.
    const x = tf.randomNormal([1, 4, 4, 16], 0, 1, 'float32', 14) as tf.Tensor4D;
    layer.train();
    const y = layer.forward(x);
    expect(layer.cDiv).toBe(8);
    const expected = tf.tidy(() => conv2d(x, tf.mul(layer.conv.weight, tf.tensor(Array.from(kroneckerMaskHost([0, 1, 0, 0])), [1, 1, 16, 16])) as tf.Tensor4D, 1, 1));
    expect(await maxDiff(y, expected)).toBeLessThan(1e-5);
    // Exact zeros stay zeros (s = 0.5), as torch.sign gives.
    setGates(layer, [0, 1e-30, -1e-30, 0.5]);
    const zero = steSign(layer.gate);
    expect(await values(zero)).toEqual([0, 1, -1, 1]);
    tf.dispose([sign, u, r, x, y, expected, zero]);
    layer.dispose();
  });

  it('the gate-order loss gives a gate at exactly 0 a zero gradient, as PyTorch abs does (issue 14)', async () => {
    const layer = new DPConv(16);
    setGates(layer, [0.3, -0.4, 0, 0]); // illegal from index 1: loss = |-0.4| + |0| + |0|
    const { value, grads } = tf.variableGrads(() => layer.gateOrderLoss(), [layer.gate]);
    expect(await scalarOf(value)).toBeCloseTo(0.4, 6);
    expect(await values(grads[layer.gate.name]!)).toEqual([0, -1, 0, 0]);
    tf.dispose([value, grads]);
    layer.dispose();
  });

  it('trains with the masked dense conv and updates c_div / one_channel', async () => {
    const layer = new DPConv(8);
    setGates(layer, [-0.5, 0.5, 0.5]);
    const x = tf.randomNormal([2, 6, 6, 8], 0, 1, 'float32', 2) as tf.Tensor4D;
    const y = layer.forward(x);
    const host = kroneckerMaskHost([0, 1, 1]);
    const expected = tf.tidy(() => conv2d(x, tf.mul(layer.conv.weight, tf.tensor(Array.from(host), [1, 1, 8, 8])) as tf.Tensor4D, 1, 1));
    expect(await maxDiff(y, expected)).toBeLessThan(1e-5);
    expect(layer.cDiv).toBe(2);
    expect(await scalarOf(layer.cDivBuffer)).toBe(2);
    // All channels are convolved in training (the official default): nothing passes through.
    const [yRest, xRest] = [tf.slice(y, [0, 0, 0, 4], [-1, -1, -1, 4]), tf.slice(x, [0, 0, 0, 4], [-1, -1, -1, 4])];
    expect(await maxDiff(yRest, xRest)).toBeGreaterThan(1e-2);
    tf.dispose([yRest, xRest]);
    tf.dispose([x, y, expected]);

    // Before preEpoch: the static partial conv with nDiv.
    const pre = new DPConv(8, { preEpoch: 2, nDiv: 2 });
    setGates(pre, [0.5, 0.5, 0.5]);
    const x2 = tf.randomNormal([1, 4, 4, 8], 0, 1, 'float32', 3) as tf.Tensor4D;
    const y2 = pre.forward(x2);
    expect(pre.convChannels).toBe(4);
    const [y2Rest, x2Rest] = [tf.slice(y2, [0, 0, 0, 4], [-1, -1, -1, 4]), tf.slice(x2, [0, 0, 0, 4], [-1, -1, -1, 4])];
    expect(await maxDiff(y2Rest, x2Rest)).toBe(0);
    tf.dispose([y2Rest, x2Rest]);
    pre.epoch = 2;
    tf.dispose([y2, pre.forward(x2)]);
    expect(pre.convChannels).toBe(8); // all gates "ones": c_div 1
    tf.dispose(x2);
    layer.dispose();
    pre.dispose();
  });

  it('evaluates as a partial conv on the first C / c_div channels (official eval)', async () => {
    for (const [gates, cDiv] of [
      [[-0.5, -0.5, 0.5, 0.5], 4],
      [[-0.5, 0.5, 0.5, 0.5], 2],
      [[0.5, -0.5, 0.5, -0.5], 4], // illegal order: c_div still counts identity gates
      [[0.5, 0.5, 0.5, 0.5], 1],
      [[-0.5, -0.5, -0.5, -0.5], 16],
    ] as const) {
      const layer = new DPConv(16);
      setGates(layer, [...gates]);
      const x = tf.randomNormal([2, 5, 5, 16], 0, 1, 'float32', 4) as tf.Tensor4D;
      tf.dispose(layer.forward(x)); // a training forward records the split
      layer.eval();
      expect(layer.cDiv).toBe(cDiv);
      const oc = 16 / cDiv;
      const ref = new PartialConv(16, cDiv);
      tf.tidy(() => ref.partialConv.weight.assign(tf.slice(layer.conv.weight, [0, 0, 0, 0], [3, 3, oc, oc])));
      const y = layer.forward(x);
      const expected = ref.forward(x);
      expect(await maxDiff(y, expected)).toBeLessThan(1e-5);
      tf.dispose([x, y, expected]);
      ref.dispose();
      layer.dispose();
    }
  });

  it('computes the complexity and gate-order losses as the official code does', async () => {
    const net = PartialNet.create(tiny);
    net.train();
    const layers = dpconvLayers(net).map(([, l]) => l);
    expect(layers.map((l) => l.dim)).toEqual([8, 16, 32, 64]);
    setGates(layers[0]!, [-0.5, 0.5, 0.5]); // s sum 2 -> 2^(3+2) = 32
    setGates(layers[1]!, [-0.5, -0.5, 0.5, 0.5]); // 2^(4+2) = 64
    setGates(layers[2]!, [0.5, -0.5, 0.5, 0.25, -0.75]); // 2^(5+3) = 256; illegal from index 1: 0.5+0.5+0.25+0.75 = 2
    setGates(layers[3]!, [-0.5, -0.5, -0.5, -0.5, -0.5, -0.5]); // 2^6 = 64
    const r = 32 + 64 + 256 + 64;
    const sumC2 = 64 + 256 + 1024 + 4096;

    // b = 2: G = sum C^2 / 4 = 1360 >= R: no penalty.
    let t = dpconvLosses(net, { b: 2, alpha: -1 });
    expect(await scalarOf(t.complexity)).toBeCloseTo(r, 3);
    expect(t.target).toBe(sumC2 / 4);
    expect(t.exponent).toBe(0);
    expect(await scalarOf(t.factor)).toBe(1);
    expect(await scalarOf(t.gateOrder)).toBeCloseTo(2, 6);
    expect(t.layers).toBe(4);
    tf.dispose([t.complexity, t.factor, t.gateOrder]);

    // b = 4: G = 340 < R = 416: exponent alpha, factor (G / R)^alpha.
    t = dpconvLosses(net, { b: 4, alpha: -1.5 });
    expect(t.exponent).toBe(-1.5);
    expect(await scalarOf(t.factor)).toBeCloseTo((340 / r) ** -1.5, 5);
    const task = tf.scalar(0.7);
    const total = combineDPConvLoss(task, t, { gateAlpha: 0.1 });
    expect(await scalarOf(total)).toBeCloseTo(0.7 * (340 / r) ** -1.5 + 0.1 * 2, 5);
    tf.dispose([t.complexity, t.factor, t.gateOrder, total]);

    // The theta band of the official rule.
    expect(complexityExponent(900, 1000, -2, 0.8)).toBe(0);
    expect(complexityExponent(1100, 1000, -2, 0.8)).toBe(-2);
    expect(complexityExponent(700, 1000, -2, 0.8)).toBe(2);
    expect(complexityExponent(1000, 1000, -2)).toBe(0);
    expect(complexityExponent(1001, 1000, -2)).toBe(-2);

    // Gradients: total = task * (R / G) for alpha = -1, so d/dg = task / G * R_layer * ln2 / 2 (|g| < 1);
    // the gate-order term adds gateAlpha * sign(g) from the first illegal gate on.
    const gates = layers.map((l) => l.gate);
    const { value, grads } = tf.variableGrads(() => {
      const terms = dpconvLossTerms(tf.scalar(1), net, { b: 4, alpha: -1, gateAlpha: 0.1 });
      return tf.addN([tf.scalar(1), terms.dpconv_complexity!, terms.dpconv_gate!]) as tf.Scalar;
    }, gates);
    expect(await scalarOf(value)).toBeCloseTo(r / 340 + 0.2, 4);
    const g0 = await values(grads[gates[0]!.name]!);
    const unit = (layerR: number) => (layerR * Math.LN2) / 2 / 340;
    for (const v of g0) expect(v).toBeCloseTo(unit(32), 5);
    const g2 = await values(grads[gates[2]!.name]!);
    expect(g2[0]).toBeCloseTo(unit(256), 5);
    expect(g2[1]).toBeCloseTo(unit(256) - 0.1, 5);
    expect(g2[2]).toBeCloseTo(unit(256) + 0.1, 5);
    expect(g2[4]).toBeCloseTo(unit(256) - 0.1, 5);
    tf.dispose([value, grads, task]);

    // Before preEpoch nothing is searching: no terms.
    const late = PartialNet.create({ ...tiny, preEpoch: 3 });
    const none = dpconvLosses(late, { b: 4, alpha: -1 });
    expect(none.layers).toBe(0);
    expect(await scalarOf(none.factor)).toBe(1);
    tf.dispose([none.complexity, none.factor, none.gateOrder]);
    setDPConvEpoch(late, 3);
    const some = dpconvLosses(late, { b: 4, alpha: -1 });
    expect(some.layers).toBe(4);
    tf.dispose([some.complexity, some.factor, some.gateOrder]);
    late.dispose();
    net.dispose();
  });

  it('uses the official parameter names and round-trips through safetensors', async () => {
    const net = PartialNet.create(tiny);
    const dict = await net.stateDict();
    const p = 'stages.2.blocks.0.spatial_mixing';
    expect(dict.get(`${p}.gate`)!.shape).toEqual([4]);
    expect(dict.get(`${p}.conv.weight`)!.shape).toEqual([16, 16, 3, 3]);
    expect(dict.get(`${p}.I`)!.shape).toEqual([2, 2]);
    expect(dict.get(`${p}.one`)!.shape).toEqual([2, 2]);
    expect(dict.get(`${p}.c_div`)).toMatchObject({ dtype: 'int32', shape: [] });
    expect(Array.from(dict.get(`${p}.one_channel`)!.data)).toEqual([4]);
    expect([...dict.keys()].some((k) => k.includes('partial_conv3'))).toBe(false);
    const back = parseSafetensors(serializeSafetensors(dict));
    const other = PartialNet.create(tiny);
    other.loadStateDict(back);
    expect(Array.from((await other.stateDict()).get(`${p}.gate`)!.data)).toEqual(Array.from(dict.get(`${p}.gate`)!.data));
    other.dispose();
    net.dispose();
  });

  it('rejects widths that are not powers of two, naming the layer and the width', async () => {
    expect(() => new DPConv(48, { label: 'stages.0.blocks.0.spatial_mixing' })).toThrow(/stages\.0\.blocks\.0\.spatial_mixing.*width 48/);
    expect(() => PartialNet.create('t1', { autoDiv: true })).toThrow(/stage 1 \(stages\.0\.blocks\.\*\.spatial_mixing\) has width 48/);
  });

  it('bakeSplits gives a static PartialNet that matches the DPConv model in eval', async () => {
    const net = PartialNet.create(tiny);
    const layers = dpconvLayers(net).map(([, l]) => l);
    setGates(layers[0]!, [-0.5, 0.5, 0.5]);
    setGates(layers[1]!, [-0.5, -0.5, -0.5, 0.5]);
    setGates(layers[2]!, [0.5, 0.5, 0.5, 0.5, 0.5]);
    setGates(layers[3]!, [-0.5, -0.5, 0.5, -0.5, 0.5, 0.5]);
    const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    net.train();
    tf.dispose(net.forward(x)); // records the splits (and BN statistics)
    net.eval();
    expect(learnedSplits(net).map((s) => s.cDiv)).toEqual([2, 8, 1, 8]);
    const baked = await bakeSplits(net);
    expect(baked.config.autoDiv).toBe(false);
    expect(baked.config.nDivPerBlock).toEqual([[2], [8], [1], [8]]);
    expect((await baked.stateDict()).get('stages.6.blocks.0.spatial_mixing.partial_conv3.weight')!.shape).toEqual([8, 8, 3, 3]);
    const a = net.forward(x);
    const b = baked.forward(x);
    expect(await maxDiff(a, b)).toBeLessThan(1e-4);
    const fa = net.features(x);
    const fb = baked.features(x);
    for (let i = 0; i < 4; i++) expect(await maxDiff(fa[i]!, fb[i]!)).toBeLessThan(1e-4);
    const table = formatSplitTable(net, { inputSize: 64 });
    expect(table).toMatch(/stages\.2\.blocks\.0\s+16\s+8\s+III1/);
    expect(table.split('\n')[0]).toMatch(/layer\s+C\s+c_div/);
    tf.dispose([x, a, b, ...fa, ...fb]);
    baked.dispose();

    // With PAT_ch / PAT_sf the baked model is the PATConv net with the learned splits; its
    // attention branches are new.
    const attn = PartialNet.create({ ...tiny, embedDim: 16, channelAttn: true });
    const { model, initialised } = await bakeSplitsDetailed(attn);
    expect(model.config.channelAttn).toBe(true);
    expect(initialised.some((n) => n.includes('spatial_mixing.attn'))).toBe(true);
    model.dispose();
    attn.dispose();
    net.dispose();
  });

  it('a T0 DPConv model builds 13 DPConv mixers and its gates get gradients', async () => {
    const net = PartialNet.create('t0', { numClasses: 4, autoDiv: true, dropPath: 0 });
    expect(dpconvLayers(net)).toHaveLength(13);
    net.train();
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 3], 'int32');
    const { value, grads } = tf.variableGrads(() => {
      const ce = crossEntropy(net.forward(x), labels);
      const terms = dpconvLossTerms(ce, net, { b: 4, alpha: -1, gateAlpha: 0.1 });
      return tf.addN([ce, ...Object.values(terms)]) as tf.Scalar;
    }, net.parameters());
    expect(Number.isFinite(await scalarOf(value))).toBe(true);
    const gate = dpconvLayers(net)[5]![1].gate;
    const gmax = tf.tidy(() => tf.max(tf.abs(grads[gate.name]!)));
    expect(await scalarOf(gmax)).toBeGreaterThan(0);
    gmax.dispose();
    tf.dispose([x, labels, value, grads]);
    net.dispose();
  });
});
