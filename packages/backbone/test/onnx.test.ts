import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { Module, OnnxGraph, OnnxSession, ONNX_FLOAT, inspectOnnx, onnxRuntimeAvailable, type OnnxTensor } from '@partialnet/core';
import { PARTIALNET_PRESETS, exportPartialNetOnnx, type PartialNetVariant } from '../src/index.js';
import { irpeBucketIds, irpeBucketIdsOnnx } from '../src/layers.js';
import { PartialNet, loadSafetensors, setupBackend, tf } from './deps.js';
import { LOCAL_ROOT, configFromMeta, fixturePath, readBin, readMeta } from './fixtures.js';

const ortMissing = !(await onnxRuntimeAvailable());
const TOLERANCE = 1e-4;

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * The largest difference relative to the output's scale (max |b|, at least 1): the same 1e-4 bar
 * for order-1 outputs, and float32 rounding for the deep presets, whose random-weight maps grow
 * to ~100 (a trained network's normalised features stay near 1).
 */
function scaledDiff(a: Float32Array, b: Float32Array): number {
  let scale = 1;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  return maxDiff(a, b) / scale;
}

/** NCHW host input and the matching NHWC tfjs tensor. */
function randomInput(b: number, h: number, w: number, seed = 1): { nchw: OnnxTensor; nhwc: tf.Tensor4D } {
  const nhwc = tf.randomNormal([b, h, w, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
  const data = tf.tidy(() => nhwc.transpose([0, 3, 1, 2]).dataSync() as Float32Array);
  return { nchw: { data: data.slice(), dims: [b, 3, h, w] }, nhwc };
}

async function runOnnx(chunks: Uint8Array[], input: OnnxTensor): Promise<Record<string, OnnxTensor>> {
  const session = await OnnxSession.fromBytes(concat(chunks), 'test.onnx', { threads: 1, provider: 'cpu' });
  try {
    return await session.run({ input });
  } finally {
    await session.dispose();
  }
}

/** tfjs NHWC maps as NCHW host arrays. */
async function toNchw(t: tf.Tensor4D): Promise<Float32Array> {
  const p = t.transpose([0, 3, 1, 2]);
  const d = (await p.data()) as Float32Array;
  p.dispose();
  return d;
}

beforeAll(async () => {
  await setupBackend('wasm');
});

/**
 * Weights with order-1 signals everywhere (the init's 0.02-scale weights would let a wrong branch
 * hide under the tolerance): fan-in-scaled weights, BatchNorm statistics away from 0 / 1, and an
 * iRPE table of order 1. A small deterministic generator keeps it reproducible.
 */
async function randomizeForTest(net: PartialNet, seed: number): Promise<void> {
  let state = seed >>> 0;
  const uniform = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const normal = () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
  const dict = await net.stateDict();
  for (const [name, t] of dict) {
    const data = t.data as Float32Array;
    const fanIn = t.shape.length > 1 ? t.data.length / t.shape[0]! : 1;
    for (let i = 0; i < data.length; i++) {
      if (name.endsWith('running_var')) data[i] = 0.5 + uniform();
      else if (name.endsWith('running_mean') || name.endsWith('.bias')) data[i] = 0.2 * normal();
      else if (t.shape.length === 1) data[i] = 1 + 0.2 * normal();
      else if (name.endsWith('lookup_table_bias')) data[i] = normal();
      else data[i] = normal() / Math.sqrt(fanIn);
    }
  }
  net.loadStateDict(dict);
}

describe.skipIf(ortMissing)('ONNX export of every preset, ONNX Runtime against tfjs (onnxruntime-node installed)', () => {
  const variants = Object.keys(PARTIALNET_PRESETS) as PartialNetVariant[];
  for (const variant of variants) {
    it(`${variant}: logits (dynamic size, 2x3x64x64) and features (fixed 64x96) within ${TOLERANCE} x max(1, output scale)`, async () => {
      const before = tf.memory().numTensors;
      const net = PartialNet.create(variant).eval();
      await randomizeForTest(net, variant.length * 31 + variant.charCodeAt(0));
      const fused = await net.fuse();
      net.dispose();
      const { nchw, nhwc } = randomInput(2, 64, 64, 7);
      const logits = fused.forward(nhwc);
      const expected = (await logits.data()) as Float32Array;
      logits.dispose();
      // The comparison means something only if the logits carry a signal well above the tolerance.
      expect(Math.max(...expected.map(Math.abs))).toBeGreaterThan(0.1);
      const exported = await exportPartialNetOnnx(fused);
      const got = await runOnnx(exported.chunks, nchw);
      expect(got.logits!.dims).toEqual([2, 1000]);
      expect(scaledDiff(got.logits!.data, expected)).toBeLessThanOrEqual(TOLERANCE);
      nhwc.dispose();

      const wide = randomInput(1, 64, 96, 8);
      const feats = fused.features(wide.nhwc);
      const featExport = await exportPartialNetOnnx(fused, { features: true, size: [64, 96] });
      const gotFeats = await runOnnx(featExport.chunks, wide.nchw);
      for (const [k, f] of feats.entries()) {
        const name = `stage${k + 1}`;
        expect(gotFeats[name]!.dims).toEqual([1, f.shape[3], f.shape[1], f.shape[2]]);
        expect(scaledDiff(gotFeats[name]!.data, await toNchw(f)), name).toBeLessThanOrEqual(TOLERANCE);
      }
      tf.dispose([...feats, wide.nhwc]);
      fused.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }, 600_000);
  }
});

describe.skipIf(ortMissing)('ONNX export follows the stage-4 split shortcut without channel attention (onnxruntime-node installed)', () => {
  it('a channelAttn: false network: ONNX Runtime logits equal tfjs within 1e-4 x scale', async () => {
    const before = tf.memory().numTensors;
    const net = PartialNet.create({ embedDim: 16, depths: [1, 1, 1, 2], channelAttn: false, numClasses: 10, featureDim: 64 }).eval();
    await randomizeForTest(net, 5);
    const fused = await net.fuse();
    net.dispose();
    const { nchw, nhwc } = randomInput(2, 64, 64, 3);
    const logits = fused.forward(nhwc);
    const expected = (await logits.data()) as Float32Array;
    const exported = await exportPartialNetOnnx(fused);
    const got = await runOnnx(exported.chunks, nchw);
    expect(scaledDiff(got.logits!.data, expected)).toBeLessThanOrEqual(TOLERANCE);
    tf.dispose([logits, nhwc]);
    fused.dispose();
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);
});

describe.skipIf(ortMissing)('one dynamic-size export serves several input sizes (onnxruntime-node installed)', () => {
  it('t1 features at 64x64, 100x132 and 257x96 from one session match tfjs', async () => {
    const before = tf.memory().numTensors;
    const net = PartialNet.create('t1').eval();
    await randomizeForTest(net, 5);
    const fused = await net.fuse();
    net.dispose();
    const session = await OnnxSession.fromBytes(concat((await exportPartialNetOnnx(fused, { features: true })).chunks), 'dyn.onnx', { threads: 1, provider: 'cpu' });
    for (const [h, w] of [[64, 64], [100, 132], [257, 96]] as const) {
      const { nchw, nhwc } = randomInput(1, h, w, h + w);
      const feats = fused.features(nhwc);
      const got = await session.run({ input: nchw });
      for (const [k, f] of feats.entries()) expect(scaledDiff(got[`stage${k + 1}`]!.data, await toNchw(f)), `${h}x${w} stage${k + 1}`).toBeLessThanOrEqual(TOLERANCE);
      tf.dispose([...feats, nhwc]);
    }
    await session.dispose();
    fused.dispose();
    expect(tf.memory().numTensors).toBe(before);
  }, 300_000);
});

describe.skipIf(ortMissing)('iRPE bucket ids computed inside the graph (onnxruntime-node installed)', () => {
  it('equal irpeBucketIds for maps up to 40x40 (distances past the logarithmic range)', async () => {
    const g = await OnnxGraph.fromModule(new Module());
    const x = g.input('input', [1, 1, 'h', 'w']);
    g.output(g.op('Cast', [irpeBucketIdsOnnx(g, x)], { to: ONNX_FLOAT }), 'ids', ['l', 'l']);
    const session = await OnnxSession.fromBytes(concat(g.encode({ graphName: 'ids', producerName: 'test', producerVersion: '0' })), 'ids.onnx', { threads: 1, provider: 'cpu' });
    for (const [h, w] of [[40, 40], [7, 7], [3, 50], [23, 31]] as const) {
      const out = await session.run({ input: { data: new Float32Array(h * w), dims: [1, 1, h, w] } });
      const expected = Float32Array.from(irpeBucketIds(h, w));
      expect(maxDiff(out.ids!.data, expected), `${h}x${w}`).toBe(0);
    }
    await session.dispose();
  });
});

// The two small official fixtures are in the repository (test/fixtures.ts says where).
const fixturesPresent = existsSync(fixturePath('tiny-gelu-sp-64x64', 'meta.json')) && existsSync(fixturePath('tiny-relu-96x128', 'meta.json'));
describe.skipIf(ortMissing || !fixturesPresent)(`official PartialNet fixtures through the exported ONNX (fixtures at ${LOCAL_ROOT}${fixturesPresent ? '' : ': absent'}, onnxruntime-node installed)`, () => {
  for (const name of ['tiny-gelu-sp-64x64', 'tiny-relu-96x128'] as const) {
    it(`${name}: logits and features within ${TOLERANCE} of the official PyTorch outputs`, async () => {
      const meta = readMeta(name);
      const net = PartialNet.create(configFromMeta(meta));
      net.loadStateDict(await loadSafetensors(fixturePath(name, 'weights.safetensors')));
      net.eval();
      const input: OnnxTensor = { data: readBin(name, 'input.bin'), dims: meta.input.shape };
      const logits = await runOnnx((await exportPartialNetOnnx(net)).chunks, input);
      expect(maxDiff(logits.logits!.data, readBin(name, 'output.bin'))).toBeLessThanOrEqual(TOLERANCE);
      const feats = await runOnnx((await exportPartialNetOnnx(net, { features: true })).chunks, input);
      for (let k = 0; k < 4; k++) {
        expect(maxDiff(feats[`stage${k + 1}`]!.data, readBin(name, `fork_feat/feat${k}.bin`)), `stage${k + 1}`).toBeLessThanOrEqual(TOLERANCE);
      }
      net.dispose();
    }, 120_000);
  }
});

describe('ONNX files that are not valid models', () => {
  let bytes: Uint8Array;
  beforeAll(async () => {
    const net = PartialNet.create({ embedDim: 8, depths: [1, 1, 1, 1], numClasses: 3, featureDim: 16 }).eval();
    bytes = concat((await exportPartialNetOnnx(net)).chunks);
    net.dispose();
  });

  it('reads the header of a good export (opset 17, input, logits, metadata)', () => {
    const info = inspectOnnx(bytes, 'good.onnx');
    expect(info.opset).toBe(17);
    expect(info.inputs[0]).toEqual({ name: 'input', type: ONNX_FLOAT, dims: ['batch', 3, 'height', 'width'] });
    expect(info.outputs.map((o) => o.name)).toEqual(['logits']);
    expect(info.metadata['partialnet.kind']).toBe('partialnet-classifier');
    expect(info.opTypes.BatchNormalization ?? 0).toBe(0);
  });

  it('names the file and says truncated for every cut of a model', () => {
    for (const cut of [1, 10, 100, Math.floor(bytes.length / 2), bytes.length - 1]) {
      expect(() => inspectOnnx(bytes.subarray(0, cut), 'cut.onnx'), `cut at ${cut}`).toThrow(/cut\.onnx: not a valid ONNX model: .*truncated/);
    }
  });

  it('rejects an empty file and a file that is not protobuf', () => {
    expect(() => inspectOnnx(new Uint8Array(0), 'empty.onnx')).toThrow(/empty\.onnx: not a valid ONNX model: the file is empty/);
    expect(() => inspectOnnx(new TextEncoder().encode('{"hello": "json"}'), 'x.onnx')).toThrow(/x\.onnx: not a valid ONNX model/);
  });

  it.skipIf(ortMissing)('OnnxSession.open gives the same clear error before ONNX Runtime sees the bytes', async () => {
    await expect(OnnxSession.fromBytes(bytes.subarray(0, bytes.length - 7), 'half.onnx')).rejects.toThrow(/half\.onnx: not a valid ONNX model/);
  });
});

afterAll(() => {
  expect(tf.memory().numTensors).toBeGreaterThanOrEqual(0);
});
