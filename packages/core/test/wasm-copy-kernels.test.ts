import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tf } from '../src/index.js';
import { checkWasmInternals } from '../src/runtime/wasm-internals.js';
import { allowWasmSimdKernels, wasmSimdKernelsActive } from '../src/runtime/wasm-kernels.js';
import { withStock } from './wasm-stock.js';

// SplitV, Concat and Slice on wasm against tfjs-backend-wasm's own kernels: copies, so bit-exact
// (compared as raw 32-bit words, which tells -0 from 0 and keeps NaN payloads).

function bits(t: tf.Tensor): number[] {
  const v = t.dataSync();
  if (v instanceof Float32Array) return Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));
  return Array.from(v as Int32Array | Uint8Array);
}

function sample(shape: number[], dtype: 'float32' | 'int32' | 'bool' = 'float32'): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (dtype === 'bool') return tf.tensor(Array.from({ length: n }, (_, i) => (i * 7) % 3 === 0), shape, 'bool');
  if (dtype === 'int32') return tf.tensor(Array.from({ length: n }, (_, i) => i * 3 - 50), shape, 'int32');
  const v = new Float32Array(n).map((_, i) => Math.sin(i * 0.37) * 100);
  if (n > 3) [v[0], v[1], v[2]] = [-0, NaN, Infinity];
  return tf.tensor(v, shape, 'float32');
}

/** The op's outputs with the overrides and with the stock kernels, as raw words, plus shapes. */
function both(op: () => tf.Tensor | tf.Tensor[]): { ours: number[][]; stock: number[][]; shapes: number[][] } {
  const run = (): { values: number[][]; shapes: number[][] } => {
    const out = op();
    const list = Array.isArray(out) ? out : [out];
    const result = { values: list.map(bits), shapes: list.map((t) => t.shape) };
    tf.dispose(list);
    return result;
  };
  const ours = run();
  const stock = withStock(run);
  expect(ours.shapes).toEqual(stock.shapes);
  return { ours: ours.values, stock: stock.values, shapes: ours.shapes };
}

const buffers = (): number => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();

describe('wasm internals these kernels rely on (fails first when a tfjs upgrade changes them)', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  it('BackendWasm has makeOutput, incRef, disposeData, dataIdMap and HEAPU8, and the SIMD module found its memory', () => {
    expect(checkWasmInternals(tf.backend())).toBeUndefined();
    expect(wasmSimdKernelsActive()).toBe(true);
  });
});

describe.each([
  ['SIMD module', true],
  ['JavaScript fallback', false],
])('wasm SplitV / Concat / Slice / PadV2 (%s) match the stock kernels bit for bit', (_label, simd) => {
  beforeAll(async () => {
    await setupBackend('wasm');
    allowWasmSimdKernels(simd);
  });
  afterAll(() => allowWasmSimdKernels(true));

  const splits: Array<[string, number[], number[] | number, number, 'float32' | 'int32' | 'bool']> = [
    ['PConv channel split [8, 24] of NHWC', [2, 5, 6, 32], [8, 24], 3, 'float32'],
    ['odd channel counts (rows under and over 16 bytes)', [2, 3, 4, 10], [3, 7], 3, 'float32'],
    ['three parts with a -1 size', [2, 3, 4, 12], [5, -1, 2], -1, 'float32'],
    ['an empty part', [2, 3, 4, 6], [0, 6], 3, 'float32'],
    ['along a middle axis', [2, 7, 3, 5], [3, 4], 1, 'float32'],
    ['along the batch axis (contiguous)', [4, 3, 5], 2, 0, 'float32'],
    ['int32', [3, 4, 9], [4, 5], 2, 'int32'],
    ['bool (1-byte rows)', [3, 4, 9], [4, 5], 2, 'bool'],
    ['rank 1', [11], [5, 6], 0, 'float32'],
  ];
  it.each(splits)('SplitV: %s', (_name, shape, sizes, axis, dtype) => {
    const x = sample(shape, dtype);
    const numTensors = tf.memory().numTensors;
    const before = buffers();
    const { ours, stock } = both(() => tf.split(x, sizes, axis));
    expect(ours).toEqual(stock);
    expect(tf.memory().numTensors).toBe(numTensors);
    expect(buffers()).toBe(before);
    x.dispose();
  });

  const concats: Array<[string, number[][], number, 'float32' | 'int32' | 'bool']> = [
    ['PConv channels [8] + [24] of NHWC', [[2, 5, 6, 8], [2, 5, 6, 24]], 3, 'float32'],
    ['three inputs, odd channel counts', [[2, 3, 3], [2, 3, 5], [2, 3, 17]], 2, 'float32'],
    ['along a middle axis', [[2, 3, 4], [2, 5, 4]], 1, 'float32'],
    ['along the batch axis', [[1, 3, 4], [2, 3, 4]], 0, 'float32'],
    ['with an empty input', [[2, 3, 0], [2, 3, 5]], 2, 'float32'],
    ['int32', [[3, 2], [3, 7]], 1, 'int32'],
    ['bool', [[3, 2], [3, 7]], 1, 'bool'],
  ];
  it.each(concats)('Concat: %s', (_name, shapes, axis, dtype) => {
    const xs = shapes.map((s) => sample(s, dtype));
    const numTensors = tf.memory().numTensors;
    const before = buffers();
    const { ours, stock } = both(() => tf.concat(xs, axis));
    expect(ours).toEqual(stock);
    expect(tf.memory().numTensors).toBe(numTensors);
    expect(buffers()).toBe(before);
    tf.dispose(xs);
  });

  const slices: Array<[string, number[], number[], number[], 'float32' | 'int32' | 'bool']> = [
    ['last axis (channels) of NHWC', [2, 4, 5, 32], [0, 0, 0, 8], [-1, -1, -1, 24], 'float32'],
    ['a middle axis', [2, 6, 5, 3], [0, 2, 0, 0], [-1, 3, -1, -1], 'float32'],
    ['several partial axes (a crop)', [3, 6, 7, 4], [1, 1, 2, 0], [2, 4, 3, -1], 'float32'],
    ['every axis partial, rank 5', [2, 3, 4, 5, 6], [1, 1, 1, 1, 1], [1, 2, 2, 3, 4], 'float32'],
    ['contiguous (leading axis)', [5, 4, 3], [1, 0, 0], [3, -1, -1], 'float32'],
    ['the whole tensor', [3, 4], [0, 0], [-1, -1], 'float32'],
    ['empty', [3, 4], [1, 2], [2, 0], 'float32'],
    ['int32', [4, 9], [1, 2], [2, 5], 'int32'],
    ['bool', [4, 9], [1, 2], [2, 5], 'bool'],
    ['an NHWC interior (a padded map cropped back)', [2, 8, 9, 16], [0, 1, 1, 0], [-1, 6, 7, -1], 'float32'],
    ['an interior of one image of a batch', [3, 8, 9, 4], [1, 2, 1, 0], [1, 5, 6, -1], 'float32'],
  ];
  it.each(slices)('Slice: %s', (_name, shape, begin, size, dtype) => {
    const x = sample(shape, dtype);
    const numTensors = tf.memory().numTensors;
    const before = buffers();
    const { ours, stock } = both(() => tf.slice(x, begin, size));
    expect(ours).toEqual(stock);
    expect(tf.memory().numTensors).toBe(numTensors);
    expect(buffers()).toBe(before);
    x.dispose();
  });

  const pads: Array<[string, number[], [number, number][], number]> = [
    ['H and W by 1 (a 3x3 convolution)', [2, 5, 6, 8], [[0, 0], [1, 1], [1, 1], [0, 0]], 0],
    ['bottom and right only (Winograd tiles)', [1, 5, 7, 4], [[0, 0], [0, 3], [0, 1], [0, 0]], 0],
    ['asymmetric, a constant', [2, 3, 4, 4], [[0, 0], [2, 0], [1, 3], [0, 0]], -1.5],
    ['channels too (left to the stock kernel)', [2, 3, 4, 4], [[0, 0], [1, 1], [1, 1], [0, 2]], 0],
    ['rank 3 (left to the stock kernel)', [3, 4, 5], [[1, 1], [0, 2], [0, 0]], 0],
  ];
  it.each(pads)('PadV2: %s', (_name, shape, paddings, value) => {
    const x = sample(shape, 'float32');
    const numTensors = tf.memory().numTensors;
    const before = buffers();
    const { ours, stock } = both(() => tf.pad(x, paddings, value));
    expect(ours).toEqual(stock);
    expect(tf.memory().numTensors).toBe(numTensors);
    expect(buffers()).toBe(before);
    x.dispose();
  });

  const transposes: Array<[string, number[], number[], 'float32' | 'int32' | 'bool']> = [
    ['a 4x4 stride-4 stem\'s patches [2, 5, 4, 6, 4, 3] -> [2, 5, 6, 4, 4, 3]', [2, 5, 4, 6, 4, 3], [0, 1, 3, 2, 4, 5], 'float32'],
    ['their inverse [2, 5, 6, 4, 4, 3] -> [2, 5, 4, 6, 4, 3]', [2, 5, 6, 4, 4, 3], [0, 1, 3, 2, 4, 5], 'float32'],
    ['the two leading axes, rows under 16 bytes', [3, 5, 2], [1, 0, 2], 'float32'],
    ['int32', [2, 3, 4, 5], [0, 2, 1, 3], 'int32'],
    ['bool (1-byte rows)', [2, 3, 4, 5], [0, 2, 1, 3], 'bool'],
    ['an empty axis', [2, 0, 4, 5], [0, 2, 1, 3], 'float32'],
  ];
  it.each(transposes)('Transpose swapping two adjacent axes: %s', (_name, shape, perm, dtype) => {
    const x = sample(shape, dtype);
    const numTensors = tf.memory().numTensors;
    const before = buffers();
    const { ours, stock } = both(() => tf.transpose(x, perm));
    expect(ours).toEqual(stock);
    expect(tf.memory().numTensors).toBe(numTensors);
    expect(buffers()).toBe(before);
    x.dispose();
  });

  it('string tensors are left to the stock kernels (concat and slice give the right strings)', () => {
    const s = tf.tensor([['a', 'b', 'c'], ['d', 'e', 'f']]);
    const l = tf.slice(s, [0, 0], [-1, 1]);
    const r = tf.slice(s, [0, 1], [-1, 2]);
    const c = tf.concat([r, l], 1);
    expect(r.arraySync()).toEqual([['b', 'c'], ['e', 'f']]);
    expect(c.arraySync()).toEqual([['b', 'c', 'a'], ['e', 'f', 'd']]);
    tf.dispose([s, l, r, c]);
  });

  it('gradients through split + channel mixing + concat + slice (a PConv step) equal the stock kernels exactly', () => {
    const x = sample([2, 6, 6, 16]);
    const clean = tf.tidy(() => tf.where(tf.isFinite(x), x, tf.zerosLike(x)).div(100));
    const w = tf.tidy(() => tf.randomNormal([4, 4], 0, 0.3, 'float32', 7));
    const f = (v: tf.Tensor, k: tf.Tensor): tf.Scalar => {
      const [head, rest] = tf.split(v as tf.Tensor4D, [4, 12], 3);
      const mixed = tf.reshape(tf.matMul(tf.reshape(head!, [-1, 4]), k as tf.Tensor2D), head!.shape);
      const y = tf.concat([mixed, rest!], 3);
      return tf.sum(tf.mul(tf.slice(y, [0, 1, 1, 2], [-1, 4, 4, 10]), tf.slice(y, [0, 0, 0, 0], [-1, 4, 4, 10])));
    };
    const numTensors = tf.memory().numTensors;
    const run = (): number[][] => {
      const grads = tf.grads(f)([clean, w]);
      const out = grads.map(bits);
      tf.dispose(grads);
      return out;
    };
    const ours = run();
    const stock = withStock(run);
    expect(ours).toEqual(stock);
    expect(tf.memory().numTensors).toBe(numTensors);
    tf.dispose([x, clean, w]);
  });
});
