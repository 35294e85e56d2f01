import { afterAll, describe, expect, it } from 'vitest';
import { conv2d, type Conv2DPad } from '../src/ops/conv2d.js';
import { setupBackend, type BackendName } from '../src/runtime/backend.js';
import { tf } from '../src/tf.js';
import type { Tensor, Tensor4D } from '../src/tf.js';

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float64Array {
  const out = new Float64Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

interface Case {
  name: string;
  x: [number, number, number, number];
  f: [number, number, number, number];
  strides: number | [number, number];
  pad: Conv2DPad;
  dilation?: number;
}

/** [top, bottom, left, right] as TensorFlow defines the pad modes (independent of the code under test). */
function pads(c: Case): [number, number, number, number] {
  const [, h, w] = c.x;
  const [kh, kw] = c.f;
  const d = c.dilation ?? 1;
  const [sh, sw] = typeof c.strides === 'number' ? [c.strides, c.strides] : c.strides;
  if (c.pad === 'valid') return [0, 0, 0, 0];
  if (typeof c.pad === 'number') return [c.pad, c.pad, c.pad, c.pad];
  if (c.pad === 'same') {
    const totH = Math.max((Math.ceil(h / sh) - 1) * sh + (kh - 1) * d + 1 - h, 0);
    const totW = Math.max((Math.ceil(w / sw) - 1) * sw + (kw - 1) * d + 1 - w, 0);
    return [Math.floor(totH / 2), totH - Math.floor(totH / 2), Math.floor(totW / 2), totW - Math.floor(totW / 2)];
  }
  return [c.pad[1][0], c.pad[1][1], c.pad[2][0], c.pad[2][1]];
}

/** Direct float64 convolution: the reference for the forward pass and for numeric gradients. */
function reference(c: Case, x: Float64Array, f: Float64Array): { y: Float64Array; shape: number[] } {
  const [n, h, w, cin] = c.x;
  const [kh, kw, , cout] = c.f;
  const d = c.dilation ?? 1;
  const [sh, sw] = typeof c.strides === 'number' ? [c.strides, c.strides] : c.strides;
  const [top, bottom, left, right] = pads(c);
  const ho = Math.floor((h + top + bottom - (kh - 1) * d - 1) / sh) + 1;
  const wo = Math.floor((w + left + right - (kw - 1) * d - 1) / sw) + 1;
  const y = new Float64Array(n * ho * wo * cout);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < ho; oy++)
      for (let ox = 0; ox < wo; ox++)
        for (let o = 0; o < cout; o++) {
          let acc = 0;
          for (let i = 0; i < kh; i++) {
            const iy = oy * sh + i * d - top;
            if (iy < 0 || iy >= h) continue;
            for (let j = 0; j < kw; j++) {
              const ix = ox * sw + j * d - left;
              if (ix < 0 || ix >= w) continue;
              for (let ci = 0; ci < cin; ci++) {
                acc += x[((b * h + iy) * w + ix) * cin + ci]! * f[((i * kw + j) * cin + ci) * cout + o]!;
              }
            }
          }
          y[((b * ho + oy) * wo + ox) * cout + o] = acc;
        }
  return { y, shape: [n, ho, wo, cout] };
}

/** Central differences of L = sum(conv(x, f) * r) in float64, one coordinate at a time. */
function numericGrad(c: Case, x: Float64Array, f: Float64Array, r: Float64Array, wrt: 'x' | 'f'): Float64Array {
  const h = 1e-3;
  const loss = (xx: Float64Array, ff: Float64Array) => {
    const { y } = reference(c, xx, ff);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i]! * r[i]!;
    return s;
  };
  const target = wrt === 'x' ? x : f;
  const g = new Float64Array(target.length);
  for (let i = 0; i < target.length; i++) {
    const keep = target[i]!;
    target[i] = keep + h;
    const up = wrt === 'x' ? loss(target, f) : loss(x, target);
    target[i] = keep - h;
    const down = wrt === 'x' ? loss(target, f) : loss(x, target);
    target[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** max |a - b| relative to max(1, max |b|): float32 results against float64 references. */
function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let err = 0;
  let scale = 1;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return err / scale;
}

// float32 accumulation over at most a few hundred products: 1e-4 is about 100x the rounding error.
const TOLERANCE = 1e-4;

const cases: Case[] = [
  { name: '3x3 stride 1 pad 1', x: [2, 5, 6, 3], f: [3, 3, 3, 4], strides: 1, pad: 1 },
  { name: "3x3 stride 2 'same', non-square odd input", x: [2, 7, 9, 3], f: [3, 3, 3, 2], strides: 2, pad: 'same' },
  { name: '3x3 stride 2 valid, last row unused', x: [1, 8, 8, 2], f: [3, 3, 2, 3], strides: 2, pad: 'valid' },
  { name: '1x1', x: [2, 4, 5, 6], f: [1, 1, 6, 3], strides: 1, pad: 'valid' },
  { name: '1x1 stride 2', x: [1, 5, 5, 3], f: [1, 1, 3, 2], strides: 2, pad: 'valid' },
  { name: '4x4 stride 4 (patch embed)', x: [2, 8, 12, 3], f: [4, 4, 3, 5], strides: 4, pad: 'valid' },
  { name: '4x4 stride 4, size not divisible', x: [1, 9, 10, 3], f: [4, 4, 3, 2], strides: 4, pad: 'valid' },
  { name: '2x2 stride 2 (patch merging)', x: [2, 6, 4, 4], f: [2, 2, 4, 6], strides: 2, pad: 'valid' },
  { name: '3x3 dilation 2 pad 2', x: [1, 7, 8, 2], f: [3, 3, 2, 3], strides: 1, pad: 2, dilation: 2 },
  { name: '3x3 dilation 2 stride 2', x: [1, 9, 8, 2], f: [3, 3, 2, 2], strides: 2, pad: 'same', dilation: 2 },
  { name: '2x3 explicit asymmetric padding', x: [2, 5, 4, 2], f: [2, 3, 2, 3], strides: [1, 2], pad: [[0, 0], [0, 1], [2, 0], [0, 0]] },
  // 16 channels: on wasm, gathered patches and a product (conv-gather.ts)
  { name: "3x3 stride 2 'same', 16 channels", x: [2, 7, 9, 16], f: [3, 3, 16, 4], strides: 2, pad: 'same' },
  { name: '3x3 stride 1 pad 1 on a 4x4 map (too small for Winograd), 16 channels', x: [2, 4, 4, 16], f: [3, 3, 16, 8], strides: 1, pad: 1 },
  { name: '3x3 dilation 2 stride 2, 16 channels', x: [1, 9, 8, 16], f: [3, 3, 16, 3], strides: 2, pad: 'same', dilation: 2 },
  { name: '2x3 stride [2, 1], explicit asymmetric padding, 32 channels', x: [1, 6, 5, 32], f: [2, 3, 32, 3], strides: [2, 1], pad: [[0, 0], [1, 0], [0, 2], [0, 0]] },
];

const backends: BackendName[] = ['cpu', 'wasm'];

afterAll(async () => {
  await setupBackend('cpu');
});

for (const backend of backends) {
  describe(`conv2d on ${backend}`, () => {
    for (const c of cases) {
      it(`${c.name}: forward and both gradients match float64 numeric differentiation`, async () => {
        await setupBackend(backend);
        expect(tf.getBackend()).toBe(backend);
        const xs = values(c.x.reduce((a, b) => a * b), 1);
        const fs = values(c.f.reduce((a, b) => a * b), 2);
        const ref = reference(c, xs, fs);
        const rs = values(ref.y.length, 3);
        const before = tf.memory().numTensors;

        const x = tf.tensor4d(Float32Array.from(xs), c.x);
        const f = tf.tensor4d(Float32Array.from(fs), c.f);
        const r = tf.tensor4d(Float32Array.from(rs), ref.shape as [number, number, number, number]);
        const y = conv2d(x, f, c.strides, c.pad, c.dilation ?? 1);
        expect(y.shape).toEqual(ref.shape);
        expect(relError(y.dataSync(), ref.y)).toBeLessThan(TOLERANCE);

        // dy = r, so these are the gradients of sum(conv(x, f) * r).
        const [dx, df] = tf.grads((a: Tensor, b: Tensor) => conv2d(a as Tensor4D, b as Tensor4D, c.strides, c.pad, c.dilation ?? 1))([x, f], r);
        expect(dx!.shape).toEqual(c.x);
        expect(df!.shape).toEqual(c.f);
        expect(relError(dx!.dataSync(), numericGrad(c, xs, fs, rs, 'x'))).toBeLessThan(TOLERANCE);
        expect(relError(df!.dataSync(), numericGrad(c, xs, fs, rs, 'f'))).toBeLessThan(TOLERANCE);

        tf.dispose([x, f, r, y, dx!, df!]);
        expect(tf.memory().numTensors).toBe(before);
      });
    }

    it.skipIf(backend !== 'wasm')('a strided 3x3 convolution of 16 channels runs as gathered patches and products, forward and backward, with no Conv2D or Conv2DBackpropInput', async () => {
      await setupBackend(backend);
      const x = tf.randomNormal([2, 8, 8, 16]) as Tensor4D;
      const f = tf.randomNormal([3, 3, 16, 8]) as Tensor4D;
      const info = await tf.profile(() => tf.grads((a: Tensor, b: Tensor) => conv2d(a as Tensor4D, b as Tensor4D, 2, 1))([x, f]));
      const names = info.kernels.map((k) => k.name);
      expect(names).toContain('PartialnetGatherWeightedSum');
      expect(names.filter((n) => n.startsWith('Conv2D'))).toEqual([]);
      tf.dispose([x, f]);
    });

    it('leaves no intermediate tensors behind, forward or backward, over repeated calls', async () => {
      await setupBackend(backend);
      const x = tf.randomNormal([2, 8, 8, 4]) as Tensor4D;
      const f = tf.randomNormal([3, 3, 4, 4]) as Tensor4D;
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        tf.dispose(conv2d(x, f, 1, 1));
        tf.dispose(tf.grads((a: Tensor, b: Tensor) => conv2d(a as Tensor4D, b as Tensor4D, 2, 'same'))([x, f]));
      }
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, f]);
    });
  });
}

describe('conv2d input checks', () => {
  it('names the problem', async () => {
    await setupBackend('cpu');
    const before = tf.memory().numTensors;
    const x = tf.zeros([1, 4, 4, 3]) as Tensor4D;
    const rank3 = tf.zeros([4, 4, 3]);
    const f = tf.zeros([3, 3, 2, 4]) as Tensor4D;
    const big = tf.zeros([5, 5, 3, 1]) as Tensor4D;
    const one = tf.zeros([1, 1, 3, 1]) as Tensor4D;
    expect(() => conv2d(x, f)).toThrow(/input has 3 channels but the filter expects 2/);
    expect(() => conv2d(rank3 as unknown as Tensor4D, f)).toThrow(/input must be NHWC rank 4, got shape \[4, 4, 3\]/);
    expect(() => conv2d(x, big)).toThrow(/a 5x5 kernel does not fit a padded 4x4 input/);
    expect(() => conv2d(x, one, 0)).toThrow(/strides must be positive integers/);
    expect(() => conv2d(x, one, 1, [[1, 0], [0, 0], [0, 0], [0, 0]])).toThrow(/may only pad H and W/);
    tf.dispose([x, rank3, f, big, one]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
