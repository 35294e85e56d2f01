import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tf } from '../src/index.js';
import { conv2d } from '../src/ops/conv2d.js';
import { setWasmPoolThreads } from '../src/ops/matmul-tn.js';
import { registerWinogradKernels, unregisterWinogradKernels, winogradAvailable, winogradConv2d, withWinogradFilterCache, type WinogradPadding } from '../src/ops/winograd.js';
import { WINOGRAD_F2, WINOGRAD_F4, filterTransformMatrix, type Matrix } from '../src/ops/winograd-transforms.js';

const mul = (a: Matrix, v: readonly number[]): number[] => a.map((row) => row.reduce((s, c, j) => s + c * v[j]!, 0));

function values(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) + 0.3 * Math.cos(i * 1.91 + 2 * seed)), shape);
}

async function maxRelativeError(got: tf.Tensor, want: tf.Tensor): Promise<number> {
  const [g, w] = [await got.data(), await want.data()];
  let err = 0;
  let scale = 0;
  for (let i = 0; i < w.length; i++) {
    err = Math.max(err, Math.abs(g[i]! - w[i]!));
    scale = Math.max(scale, Math.abs(w[i]!));
  }
  return err / scale;
}

/** The direct convolution and its gradients (Winograd kernels unregistered meanwhile). */
function direct<T>(fn: () => T): T {
  unregisterWinogradKernels();
  try {
    return fn();
  } finally {
    registerWinogradKernels();
  }
}

// float32 error bounds relative to the largest output (measured: F(2,3) <= 2.5e-6, F(4,3) <= 1.7e-5
// up to 256 channels; F(4,3)'s points +-2 scale terms by up to 8)
const TOLERANCE = { 2: 6e-6, 4: 6e-5 } as const;

describe('Winograd transform matrices', () => {
  it.each([WINOGRAD_F2, WINOGRAD_F4])('F($m, 3) in one dimension: A^T [(G g) . (B^T d)] is the 3-tap correlation of d', (t) => {
    for (let trial = 0; trial < 20; trial++) {
      const d = Array.from({ length: t.alpha }, (_, i) => Math.sin(trial * 7 + i * 1.3) * 3);
      const g = [Math.cos(trial), Math.sin(trial * 2) - 0.5, 0.7 - trial / 20];
      const product = mul(t.G, g).map((u, i) => u * mul(t.BT, d)[i]!);
      const y = mul(t.AT, product);
      for (let i = 0; i < t.m; i++) expect(y[i]).toBeCloseTo(d[i]! * g[0]! + d[i + 1]! * g[1]! + d[i + 2]! * g[2]!, 10);
    }
  });

  it('kron(G, G) maps HWIO taps to the transformed filter G g G^T', () => {
    const t = WINOGRAD_F4;
    const g = [
      [1, 2, 3],
      [-1, 0.5, 4],
      [2, -3, 0.25],
    ];
    const flat = filterTransformMatrix(t).map((row) => row.reduce((s, c, k) => s + c * g[Math.floor(k / 3)]![k % 3]!, 0));
    for (let a = 0; a < t.alpha; a++) {
      for (let b = 0; b < t.alpha; b++) {
        let want = 0;
        for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) want += t.G[a]![i]! * g[i]![j]! * t.G[b]![j]!;
        expect(flat[a * t.alpha + b]).toBeCloseTo(want, 12);
      }
    }
  });
});

describe('winogradConv2d on wasm', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });
  afterAll(() => registerWinogradKernels());

  it('has its SIMD kernels here', () => {
    expect(winogradAvailable()).toBe(true);
  });

  const cases: [number[], number, WinogradPadding][] = [
    [[1, 5, 7, 4], 8, { top: 1, bottom: 1, left: 1, right: 1 }],
    [[2, 9, 6, 8], 4, { top: 0, bottom: 0, left: 0, right: 0 }],
    [[2, 11, 13, 12], 16, { top: 2, bottom: 0, left: 1, right: 3 }],
    [[3, 14, 14, 32], 36, { top: 1, bottom: 1, left: 1, right: 1 }],
    [[1, 3, 3, 4], 4, { top: 0, bottom: 0, left: 0, right: 0 }],
  ];

  for (const m of [2, 4] as const) {
    it.each(cases)(`F(${m}, 3): forward matches the direct convolution for %j -> %i channels, padding %j, and frees what it makes`, async (shape, cout, pad) => {
      const x = values(shape, 1) as tf.Tensor4D;
      const f = values([3, 3, shape[3]!, cout], 2) as tf.Tensor4D;
      const want = direct(() => conv2d(x, f, 1, [[0, 0], [pad.top, pad.bottom], [pad.left, pad.right], [0, 0]]));
      const before = tf.memory().numTensors;
      const got = winogradConv2d(x, f, pad, m);
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(got.shape).toEqual(want.shape);
      expect(await maxRelativeError(got, want)).toBeLessThan(TOLERANCE[m]);
      tf.dispose([x, f, want, got]);
    });

    it.each(cases)(`F(${m}, 3): input and filter gradients match the direct convolution's for %j -> %i channels, padding %j`, async (shape, cout, pad) => {
      const x = values(shape, 3) as tf.Tensor4D;
      const f = values([3, 3, shape[3]!, cout], 4) as tf.Tensor4D;
      const padding: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [pad.top, pad.bottom], [pad.left, pad.right], [0, 0]];
      const y = direct(() => conv2d(x, f, 1, padding));
      const dy = values(y.shape, 5);
      const loss = (conv: (a: tf.Tensor4D, b: tf.Tensor4D) => tf.Tensor4D) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), dy));
      const want = direct(() => tf.grads(loss((a, b) => conv2d(a, b, 1, padding)))([x, f]));
      const before = tf.memory().numTensors;
      const got = tf.grads(loss((a, b) => winogradConv2d(a, b, pad, m)))([x, f]);
      expect(tf.memory().numTensors).toBe(before + 2);
      expect(got[0]!.shape).toEqual(x.shape);
      expect(got[1]!.shape).toEqual(f.shape);
      expect(await maxRelativeError(got[0]!, want[0]!)).toBeLessThan(TOLERANCE[m]);
      expect(await maxRelativeError(got[1]!, want[1]!)).toBeLessThan(TOLERANCE[m]);
      tf.dispose([x, f, y, dy, ...want, ...got]);
    });
  }

  it.each([1, 8])('F(4, 3) at 256 channels (a detector head) stays within its bound, forward and gradients (filter gradient as with %i XNNPACK threads)', async (threads) => {
    // one thread: dU by the a^T b kernel; eight: through V written transposed and XNNPACK
    setWasmPoolThreads(threads);
    const x = values([1, 20, 24, 256], 6) as tf.Tensor4D;
    const f = tf.mul(values([3, 3, 256, 256], 7), 0.05) as tf.Tensor4D;
    const pad = { top: 1, bottom: 1, left: 1, right: 1 };
    const dy = values([1, 20, 24, 256], 8);
    const loss = (conv: (a: tf.Tensor4D, b: tf.Tensor4D) => tf.Tensor4D) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), dy));
    const want = direct(() => [conv2d(x, f, 1, 1), ...tf.grads(loss((a, b) => conv2d(a, b, 1, 1)))([x, f])]);
    const got = [winogradConv2d(x, f, pad, 4), ...tf.grads(loss((a, b) => winogradConv2d(a, b, pad, 4)))([x, f])];
    setWasmPoolThreads(1);
    for (let i = 0; i < 3; i++) expect(await maxRelativeError(got[i]!, want[i]!)).toBeLessThan(TOLERANCE[4]);
    tf.dispose([x, f, dy, ...want, ...got]);
  });

  it('a filter used again in a withWinogradFilterCache scope (a head shared over levels) is transformed twice, not per use; same bits, nothing left behind, a reassigned variable transformed anew', async () => {
    const f = tf.variable(values([3, 3, 8, 12], 12) as tf.Tensor4D);
    const levels = [values([2, 12, 10, 8], 13), values([2, 6, 5, 8], 14), values([2, 3, 3, 8], 15)] as tf.Tensor4D[];
    const pad = { top: 1, bottom: 1, left: 1, right: 1 };
    const run = (): tf.Tensor4D[] => levels.map((x) => winogradConv2d(x, f as unknown as tf.Tensor4D, pad, 2));
    // the filter transform: kron(G, G) [16, 9] times the filter [9, 8 * 12]
    const transforms = async (fn: () => tf.Tensor[]): Promise<number> => {
      const info = await tf.profile(() => tf.dispose(fn()));
      return info.kernels.filter((k) => k.name === 'BatchMatMul' && JSON.stringify(k.inputShapes) === JSON.stringify([[16, 9], [9, 96]])).length;
    };
    expect(await transforms(run)).toBe(3);
    expect(await transforms(() => withWinogradFilterCache(run))).toBe(2);
    const plain = run();
    const before = tf.memory().numTensors;
    const cached = withWinogradFilterCache(run);
    expect(tf.memory().numTensors).toBe(before + 3);
    for (let i = 0; i < 3; i++) expect(Array.from(await cached[i]!.data())).toEqual(Array.from(await plain[i]!.data()));
    // gradients: core's backprop runs in a scope, so the backward passes reuse U as well
    const loss = () => tf.addN(run().map((y) => tf.sum(tf.square(y)))) as tf.Scalar;
    const info = await tf.profile(() => tf.dispose(tf.variableGrads(loss, [f]).grads));
    expect(info.kernels.filter((k) => k.name === 'BatchMatMul' && JSON.stringify(k.inputShapes) === JSON.stringify([[16, 9], [9, 96]])).length).toBe(2);
    const tensors = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(loss, [f]);
    const want = direct(() => tf.variableGrads(() => tf.addN(levels.map((x) => tf.sum(tf.square(conv2d(x, f as unknown as tf.Tensor4D, 1, 'same'))))) as tf.Scalar, [f]));
    expect(await maxRelativeError(grads[f.name]!, want.grads[f.name]!)).toBeLessThan(TOLERANCE[2]);
    tf.dispose([value, want.value, ...Object.values(grads), ...Object.values(want.grads)]);
    expect(tf.memory().numTensors).toBe(tensors);
    // a new value under the same variable is a new dataId: its U is computed again
    const second = withWinogradFilterCache(() => {
      const y0 = winogradConv2d(levels[0]!, f as unknown as tf.Tensor4D, pad, 2);
      const y1 = winogradConv2d(levels[0]!, f as unknown as tf.Tensor4D, pad, 2);
      f.assign(tf.mul(f, 2) as tf.Tensor4D);
      return [y0, y1, winogradConv2d(levels[0]!, f as unknown as tf.Tensor4D, pad, 2)];
    });
    const [a, b, doubled] = await Promise.all(second.map((t) => t.data()));
    expect(Array.from(b!)).toEqual(Array.from(a!));
    expect(Array.from(doubled!)).toEqual(Array.from(a!).map((v) => 2 * v));
    tf.dispose([f, ...levels, ...plain, ...cached, ...second]);
  });

  it.each([
    ['same padding, bands of 4 rows', { top: 1, bottom: 1, left: 1, right: 1 }, 4, 1],
    ['uneven padding (top 2, bottom 0), bands of 2 rows of F(2, 3)', { top: 2, bottom: 0, left: 0, right: 1 }, 2, 1],
    ['no padding, one tile row per band', { top: 0, bottom: 0, left: 0, right: 0 }, 4, 1],
    ['two images in groups as well as bands', { top: 1, bottom: 1, left: 1, right: 1 }, 4, 2],
  ] as const)('an image whose planes pass the budget goes through in bands of rows with the direct convolution\'s output and gradients: %s', async (_name, pad, m, tileRows) => {
    const x = values([2, 13, 10, 8], 16) as tf.Tensor4D;
    const f = values([3, 3, 8, 12], 17) as tf.Tensor4D;
    const ho = 13 + pad.top + pad.bottom - 2;
    const wo = 10 + pad.left + pad.right - 2;
    // planes of `tileRows` tile rows of one image (two images per group when they fit)
    const budget = (m + 2) ** 2 * tileRows * Math.ceil(wo / m) * 12 * 4;
    const dy = values([2, ho, wo, 12], 18);
    const loss = (conv: (a: tf.Tensor4D, b: tf.Tensor4D) => tf.Tensor4D) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), dy));
    const banded = (a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D => winogradConv2d(a, b, pad, m, budget);
    const explicit: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [pad.top, pad.bottom], [pad.left, pad.right], [0, 0]];
    const plain = (a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D => conv2d(a, b, 1, explicit);
    const before = tf.memory().numTensors;
    const got = [banded(x, f), ...tf.grads(loss(banded))([x, f])];
    expect(tf.memory().numTensors).toBe(before + 3);
    const info = await tf.profile(() => banded(x, f).dispose());
    expect(info.kernels.filter((k) => k.name === 'PartialnetWinogradGather').length).toBeGreaterThanOrEqual(Math.ceil(ho / (m * tileRows)));
    const want = direct(() => [plain(x, f), ...tf.grads(loss(plain))([x, f])]);
    expect(got[0]!.shape).toEqual([2, ho, wo, 12]);
    expect(await maxRelativeError(got[0]!, want[0]!), 'y').toBeLessThan(TOLERANCE[m]);
    expect(await maxRelativeError(got[1]!, want[1]!), 'dx').toBeLessThan(TOLERANCE[m]);
    expect(await maxRelativeError(got[2]!, want[2]!), 'dw').toBeLessThan(TOLERANCE[m]);
    tf.dispose([x, f, dy, ...got, ...want]);
  });

  it('a batch split into groups of images under the plane budget gives the same output and gradients as one pass', async () => {
    const x = values([5, 12, 10, 8], 9) as tf.Tensor4D;
    const f = values([3, 3, 8, 12], 10) as tf.Tensor4D;
    const pad = { top: 1, bottom: 1, left: 1, right: 1 };
    const dy = values([5, 12, 10, 12], 11);
    const loss = (budget?: number) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(winogradConv2d(a as tf.Tensor4D, b as tf.Tensor4D, pad, 4, budget), dy));
    // F(4, 3) planes of one 12x10 image: 36 x 9 tiles x 12 channels x 4 bytes = 15552: groups of 2, 2, 1
    const budget = 2 * 15552;
    const whole = [winogradConv2d(x, f, pad, 4), ...tf.grads(loss())([x, f])];
    const before = tf.memory().numTensors;
    const grouped = [winogradConv2d(x, f, pad, 4, budget), ...tf.grads(loss(budget))([x, f])];
    expect(tf.memory().numTensors).toBe(before + 3);
    const info = await tf.profile(() => {
      winogradConv2d(x, f, pad, 4, budget).dispose();
    });
    expect(info.kernels.filter((k) => k.name === 'PartialnetWinogradGather').length).toBe(3);
    expect(Array.from(await grouped[0]!.data())).toEqual(Array.from(await whole[0]!.data()));
    // dx per image as in one pass; dW summed over groups in another order (F(4, 3) amplifies it)
    expect(await maxRelativeError(grouped[1]!, whole[1]!), "dx").toBeLessThan(1e-6);
    expect(await maxRelativeError(grouped[2]!, whole[2]!), "dw").toBeLessThan(TOLERANCE[4]);
    tf.dispose([x, f, dy, ...whole, ...grouped]);
  });

  it('conv2d takes it for 3x3 stride-1 convolutions down to 8 channels, small maps and maps past the plane budget (in bands), and not for strided, dilated, thinner or tiny ones', async () => {
    const kernelsOf = async (fn: () => tf.Tensor): Promise<string[]> => {
      const info = await tf.profile(() => {
        fn().dispose();
      });
      return info.kernels.map((k) => k.name);
    };
    const x = tf.zeros([2, 32, 32, 64]) as tf.Tensor4D;
    const f = tf.zeros([3, 3, 64, 64]) as tf.Tensor4D;
    expect(await kernelsOf(() => conv2d(x, f, 1, 1))).toContain('PartialnetWinogradGather');
    // RetinaNet's head on the P6 level, PartialNet-T0's first PConv
    expect(await kernelsOf(() => conv2d(tf.zeros([2, 8, 8, 256]) as tf.Tensor4D, tf.zeros([3, 3, 256, 256]) as tf.Tensor4D, 1, 1))).toContain('PartialnetWinogradGather');
    expect(await kernelsOf(() => conv2d(tf.zeros([16, 56, 56, 8]) as tf.Tensor4D, tf.zeros([3, 3, 8, 8]) as tf.Tensor4D, 1, 1))).toContain('PartialnetWinogradGather');
    for (const [name, fn] of [
      ['stride 2', () => conv2d(x, f, 2, 1)],
      ['dilation 2', () => conv2d(x, f, 1, 2, 2)],
      ['4 input channels', () => conv2d(tf.zeros([2, 32, 32, 4]) as tf.Tensor4D, tf.zeros([3, 3, 4, 64]) as tf.Tensor4D, 1, 1)],
      ['a 4x4 map', () => conv2d(tf.zeros([1, 4, 4, 64]) as tf.Tensor4D, f, 1, 1)],
      ['a 4x4 map of 256 channels', () => conv2d(tf.zeros([2, 4, 4, 256]) as tf.Tensor4D, tf.zeros([3, 3, 256, 256]) as tf.Tensor4D, 1, 1)],
    ] as const) {
      expect(await kernelsOf(fn), name).not.toContain('PartialnetWinogradGather');
    }
    // F(4, 3) planes of 36 x 160^2 tiles x 32 channels: 118 MB, over the 96 MiB budget: two bands
    const big = await kernelsOf(() => conv2d(tf.zeros([1, 640, 640, 32]) as tf.Tensor4D, tf.zeros([3, 3, 32, 32]) as tf.Tensor4D, 1, 1));
    expect(big.filter((k) => k === 'PartialnetWinogradGather')).toHaveLength(2);
    tf.dispose([x, f]);
  });

  it('names what is wrong: a filter that is not 3x3, channels not a multiple of 4, padding that is not four integers >= 0', () => {
    const x = tf.zeros([1, 8, 8, 4]) as tf.Tensor4D;
    const pad = { top: 1, bottom: 1, left: 1, right: 1 };
    expect(() => winogradConv2d(x, tf.zeros([5, 5, 4, 4]) as tf.Tensor4D, pad)).toThrow(/3x3 filter, got 5x5/);
    expect(() => winogradConv2d(tf.zeros([1, 8, 8, 6]) as tf.Tensor4D, tf.zeros([3, 3, 6, 4]) as tf.Tensor4D, pad)).toThrow(/multiple of 4, got 6/);
    expect(() => winogradConv2d(x, tf.zeros([3, 3, 5, 4]) as tf.Tensor4D, pad)).toThrow(/4 channels but the filter expects 5/);
    const f = tf.zeros([3, 3, 4, 4]) as tf.Tensor4D;
    expect(() => winogradConv2d(x, f, 'same' as unknown as typeof pad)).toThrow(/pad.top must be an integer >= 0, got undefined/);
    expect(() => winogradConv2d(x, f, { ...pad, left: -1 })).toThrow(/pad.left must be an integer >= 0, got -1/);
    f.dispose();
    x.dispose();
  });
});
