import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matMulT, setupBackend, tf } from '../src/index.js';
import { batchMatMul, planBatchMatMul, transposeLastTwo } from '../src/runtime/wasm-matmul.js';
import { wasmHeap } from '../src/runtime/wasm-internals.js';
import { instantiateSimdKernels } from '../src/runtime/simd-kernels.js';
import { allowWasmSimdKernels, registerWasmKernelOverrides, restoreStockWasmKernels } from '../src/runtime/wasm-kernels.js';
import { withStock } from './wasm-stock.js';
import { allowRelaxedSimd, relaxedSimdSupported } from '../src/runtime/relaxed-simd.js';

// The wasm BatchMatMul override (SIMD tiled product for batches and transposeA) against
// tfjs-backend-wasm's own kernel and a float64 reference. Both sum the K products in float32 in
// their own orders, so they are compared with a tolerance scaled by the size of the terms:
// |ours - reference| <= 1e-5 * sum_p |a_ip b_pj| + 1e-30 (float32 rounding of K <= 64 terms is
// at most ~K * 6e-8 of that sum).

function values(shape: number[], seed: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Float32Array(n).map((_, i) => Math.sin(i * 0.731 + seed) * 2 + Math.cos(i * 0.117 * seed));
}

/** float64 reference of tf.matMul(a, b, tA, tB) with tfjs's batch broadcasting (bi % batch), plus a bias over the last axis. */
function reference(a: tf.Tensor, b: tf.Tensor, tA: boolean, tB: boolean, bias?: tf.Tensor): { value: Float64Array; scale: Float64Array } {
  const [av, bv] = [a.dataSync(), b.dataSync()];
  const biasValues = bias?.dataSync();
  const [ra, rb] = [a.rank, b.rank];
  const m = tA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = tA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const n = tB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  const batchA = av.length / (m * k);
  const batchB = bv.length / (k * n);
  const batch = Math.max(batchA, batchB);
  const value = new Float64Array(batch * m * n);
  const scale = new Float64Array(batch * m * n);
  for (let bi = 0; bi < batch; bi++) {
    const ao = (bi % batchA) * m * k;
    const bo = (bi % batchB) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let [s, t] = [0, 0];
        for (let p = 0; p < k; p++) {
          const x = av[ao + (tA ? p * m + i : i * k + p)]! * bv[bo + (tB ? j * k + p : p * n + j)]!;
          s += x;
          t += Math.abs(x);
        }
        const bj = biasValues ? biasValues[j]! : 0;
        value[bi * m * n + i * n + j] = s + bj;
        scale[bi * m * n + i * n + j] = t + Math.abs(bj);
      }
    }
  }
  return { value, scale };
}

function expectNear(got: tf.Tensor, want: { value: Float64Array; scale: Float64Array }, what: string): void {
  const g = got.dataSync();
  expect(g.length, what).toBe(want.value.length);
  for (let i = 0; i < g.length; i++) {
    const err = Math.abs(g[i]! - want.value[i]!);
    const tol = 1e-5 * want.scale[i]! + 1e-30;
    if (!(err <= tol)) expect.fail(`${what}: element ${i} is ${g[i]}, reference ${want.value[i]} (|diff| ${err} > ${tol})`);
  }
}

const kernelsRun = async (fn: () => tf.Tensor): Promise<string[]> => {
  const info = await tf.profile(() => fn());
  tf.dispose(info.result as tf.Tensor);
  return info.kernels.map((k) => k.name);
};

// [name, a shape, b shape, transposeA, transposeB]
const cases: Array<[string, number[], number[], boolean, boolean]> = [
  ['PAT_sf q k^T [4, 16, 49, 48] x [4, 16, 48, 49]', [4, 2, 49, 48], [4, 2, 48, 49], false, false],
  ['PAT_sf attn v [4, 2, 49, 49] x [4, 2, 49, 48]', [4, 2, 49, 49], [4, 2, 49, 48], false, false],
  ['transposeB (the gradient dy v^T)', [3, 49, 48], [3, 49, 48], false, true],
  ['transposeA (the gradient attn^T dy)', [3, 49, 49], [3, 49, 48], true, false],
  ['both transposed', [2, 7, 13], [2, 9, 7], true, true],
  ['odd sizes 5 x 3 by 3 x 9, batch 3', [3, 5, 3], [3, 3, 9], false, false],
  ['odd sizes 13 x 17 by 17 x 11', [2, 13, 17], [2, 17, 11], false, false],
  ['exactly one tile, K = 1', [2, 4, 1], [2, 1, 8], false, false],
  ['a batch-1 b broadcast over a batch of a', [5, 6, 10], [1, 10, 12], false, false],
  ['a batch-1 a broadcast, b transposed', [1, 6, 10], [5, 12, 10], false, true],
  ['rank 4 against rank 3 (leading batch dims broadcast)', [2, 3, 8, 5], [3, 5, 9], false, false],
  ['a single product with transposeA (stock: scalar loop)', [37, 21], [37, 19], true, false],
  ['a single product with transposeB', [21, 37], [19, 37], false, true],
];

describe('wasm BatchMatMul override (SIMD tiles) matches the stock kernel and a float64 reference', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  it.each(cases)('%s', async (_name, aShape, bShape, tA, tB) => {
    const a = tf.tensor(values(aShape, 1), aShape);
    const b = tf.tensor(values(bShape, 2), bShape);
    expect(planBatchMatMul(a, b, tA, tB), 'the override takes this case').toBeDefined();
    const numTensors = tf.memory().numTensors;
    const buffers = (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    const ours = tf.matMul(a, b, tA, tB);
    const stock = withStock(() => tf.matMul(a, b, tA, tB));
    expect(ours.shape).toEqual(stock.shape);
    const want = reference(a, b, tA, tB);
    expectNear(ours, want, 'ours');
    expectNear(stock, want, 'stock');
    tf.dispose([ours, stock]);
    expect(tf.memory().numTensors).toBe(numTensors);
    // the packed B of a transposeB product is freed
    expect((tf.backend() as unknown as { numDataIds(): number }).numDataIds()).toBe(buffers);
    tf.dispose([a, b]);
  });

  it('int32, tiny matrices and mismatched batches go to the stock kernel, and a single plain product does unless the kernel has relaxed SIMD and B fits in L2', () => {
    const t = (shape: number[], dtype: 'float32' | 'int32' = 'float32'): tf.TensorInfo => ({ dataId: {}, shape, dtype });
    allowRelaxedSimd(false);
    try {
      expect(planBatchMatMul(t([30, 20]), t([20, 10]), false, false)).toBeUndefined();
    } finally {
      allowRelaxedSimd(true);
    }
    expect(planBatchMatMul(t([30, 20]), t([20, 10]), false, false) !== undefined).toBe(relaxedSimdSupported());
    // a B past L2 (a box-head FC) is blocked
    expect(planBatchMatMul(t([64, 12544]), t([12544, 1024]), false, false)?.blocked).toBe(relaxedSimdSupported() ? true : undefined);
    expect(planBatchMatMul(t([64, 1024]), t([12544, 1024]), false, true)?.blocked).toBe(true);
    expect(planBatchMatMul(t([64, 256]), t([256, 720]), false, false)?.blocked).toBe(relaxedSimdSupported() ? false : undefined);
    expect(planBatchMatMul(t([64, 256]), t([256, 1024]), false, false)?.blocked).toBe(relaxedSimdSupported() ? true : undefined);
    expect(planBatchMatMul(t([2, 64, 12544]), t([2, 12544, 1024]), false, false)?.blocked).toBe(false); // batches stream
    expect(planBatchMatMul(t([2, 30, 20], 'int32'), t([2, 20, 10], 'int32'), false, false)).toBeUndefined();
    expect(planBatchMatMul(t([2, 3, 20]), t([2, 20, 10]), false, false)).toBeUndefined(); // M < 4
    expect(planBatchMatMul(t([2, 30, 20]), t([2, 20, 7]), false, false)).toBeUndefined(); // N < 8
    expect(planBatchMatMul(t([2, 1, 30, 20]), t([1, 2, 20, 10]), false, false)).toBeUndefined(); // [2,1] with [1,2]
    expect(planBatchMatMul(t([2, 30, 0]), t([2, 0, 10]), false, false)).toBeUndefined(); // K = 0
  });

  it('falls back to the stock kernel without the SIMD module, with the same result', () => {
    const a = tf.tensor(values([3, 9, 6], 3), [3, 9, 6]);
    const b = tf.tensor(values([3, 6, 10], 4), [3, 6, 10]);
    allowWasmSimdKernels(false);
    try {
      const y = tf.matMul(a, b);
      expectNear(y, reference(a, b, false, false), 'fallback');
      y.dispose();
    } finally {
      allowWasmSimdKernels(true);
    }
    tf.dispose([a, b]);
  });

  it('runs on Node 20 with relaxed SIMD switched on (V8 flag), unless PARTIALNET_RELAXED_SIMD=0', () => {
    expect(relaxedSimdSupported()).toBe(process.env.PARTIALNET_RELAXED_SIMD !== '0');
  });

  it.each([
    ['a 1x1 convolution with a bias [1, 196, 128] x [1, 128, 256] + [256]', [1, 196, 128], [1, 128, 256], [256]],
    ['a linear [37, 21] x [21, 19] + [19] (odd sizes)', [37, 21], [21, 19], [19]],
    ['no bias [64, 32] x [32, 48]', [64, 32], [32, 48], undefined],
  ] as const)('tf.fused.matMul: %s matches the stock kernel and a float64 reference, with and without relaxed SIMD', async (_name, aShape, bShape, biasShape) => {
    const a = tf.tensor(values([...aShape], 7), [...aShape]);
    const b = tf.tensor(values([...bShape], 8), [...bShape]);
    const bias = biasShape ? tf.tensor(values([...biasShape], 9), [...biasShape]) : undefined;
    const want = reference(a, b, false, false, bias);
    const numTensors = tf.memory().numTensors;
    for (const relaxed of [true, false]) {
      allowRelaxedSimd(relaxed);
      try {
        const kernels = await kernelsRun(() => tf.fused.matMul({ a, b, bias }));
        expect(kernels).toContain('_FusedMatMul');
        const ours = tf.fused.matMul({ a, b, bias });
        expectNear(ours, want, `ours, relaxed SIMD ${relaxed}`);
        ours.dispose();
      } finally {
        allowRelaxedSimd(true);
      }
    }
    const stock = withStock(() => tf.fused.matMul({ a, b, bias }));
    expectNear(stock, want, 'stock');
    stock.dispose();
    expect(tf.memory().numTensors).toBe(numTensors);
    tf.dispose([a, b, ...(bias ? [bias] : [])]);
  });

  it.each([
    ['a box-head FC with a bias, M % 4 and N % 8 left over [66, 600] x [600, 460] + [460]', [66, 600], [600, 460], false, false, true],
    ['whole tiles, no bias [64, 520] x [520, 512]', [64, 520], [520, 512], false, false, false],
    ['transposed B, the FC input gradient [66, 600] x [460, 600]^T', [66, 600], [460, 600], false, true, false],
    ['transposed A [600, 66]^T x [600, 460]', [600, 66], [600, 460], true, false, false],
    ['few rows, whole column panels: a Winograd filter transform [36, 9] x [9, 22000] + bias', [36, 9], [9, 22000], false, false, true],
    ['few rows, M % 4 and a last panel of 133 columns [9, 36] x [36, 6021]', [9, 36], [36, 6021], false, false, false],
    ['few rows, transposed B [9, 36] x [6021, 36]^T', [9, 36], [6021, 36], false, true, false],
  ] as const)('a single product with B past L2 runs blocked, with the bits of the streamed product, within float64 tolerance: %s', (_name, aShape, bShape, tA, tB, withBias) => {
    const a = tf.tensor(values([...aShape], 11), [...aShape]);
    const b = tf.tensor(values([...bShape], 12), [...bShape]);
    const bias = withBias ? tf.tensor(values([bShape[1]!], 13), [bShape[1]!]) : undefined;
    const want = reference(a, b, tA, tB, bias);
    const heap = wasmHeap(tf.backend());
    const numTensors = tf.memory().numTensors;
    const buffers = (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    for (const relaxed of [true, false]) {
      allowRelaxedSimd(relaxed);
      try {
        const plan = planBatchMatMul(a, b, tA, tB);
        if (!plan) {
          // without relaxed SIMD a single plain product stays with XNNPACK
          expect(!relaxed && !tA && !tB).toBe(true);
          continue;
        }
        expect(plan.blocked).toBe(true);
        const ours = bias ? tf.fused.matMul({ a, b, bias, transposeA: tA, transposeB: tB }) : tf.matMul(a, b, tA, tB);
        expectNear(ours, want, `blocked, relaxed SIMD ${relaxed}`);
        const streamedInfo = batchMatMul(heap, instantiateSimdKernels(heap.memory()!)!, a, b, tA, tB, { ...plan, blocked: false }, bias);
        const streamed = tf.engine().makeTensorFromTensorInfo(streamedInfo);
        const [o, st] = [ours.dataSync(), streamed.dataSync()];
        let differing = 0;
        for (let i = 0; i < o.length; i++) if (!Object.is(o[i], st[i])) differing++;
        expect(differing, 'elements that differ from the streamed product').toBe(0);
        tf.dispose([ours, streamed]);
      } finally {
        allowRelaxedSimd(true);
      }
    }
    expect(tf.memory().numTensors).toBe(numTensors);
    // the panel and the tail scratch are freed
    expect((tf.backend() as unknown as { numDataIds(): number }).numDataIds()).toBe(buffers);
    tf.dispose([a, b, ...(bias ? [bias] : [])]);
  });

  it('PAT_sf attention gradients (softmax(q k^T) v, d/dq, d/dk, d/dv) match the stock kernels', async () => {
    const [h, L, d] = [8, 49, 16];
    const q = tf.tensor(values([h, L, d], 5), [h, L, d]).mul(0.3);
    const k = tf.tensor(values([h, L, d], 6), [h, L, d]).mul(0.3);
    const v = tf.tensor(values([h, L, d], 7), [h, L, d]);
    const w = tf.tensor(values([h, L, d], 8), [h, L, d]);
    const attention = (qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor): tf.Scalar =>
      tf.sum(tf.mul(tf.matMul(tf.softmax(tf.matMul(qi, tf.transpose(ki, [0, 2, 1]))), vi), w));
    const grads = (): tf.Tensor[] => tf.grads(attention)([q, k, v]);
    const names = await kernelsRun(() => tf.stack(grads()));
    expect(names).toContain('BatchMatMul');
    const ours = grads();
    const stock = withStock(grads);
    ours.forEach((g, i) => {
      const [o, s] = [g.dataSync(), stock[i]!.dataSync()];
      let worst = 0;
      let scale = 0;
      for (let j = 0; j < o.length; j++) {
        worst = Math.max(worst, Math.abs(o[j]! - s[j]!));
        scale = Math.max(scale, Math.abs(s[j]!));
      }
      expect(worst, `gradient ${'qkv'[i]}: max |ours - stock| against max |stock| ${scale}`).toBeLessThan(1e-5 * scale + 1e-7);
    });
    tf.dispose([q, k, v, w, ...ours, ...stock]);
  });
});

describe('wasm Transpose of the last two axes of large matrices (blocked copy) equals the stock kernel bit for bit', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  const bits = (t: tf.Tensor): number[] => {
    const v = t.dataSync();
    return Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));
  };
  // [name, shape, perm, dtype, taken by the override]
  const cases: Array<[string, number[], number[], 'float32' | 'int32', boolean]> = [
    ['a tall matrix 8200 x 17 (column blocks of 8 with a remainder)', [8200, 17], [1, 0], 'float32', true],
    ['a wide matrix 70 x 1030 (bands of 64 rows and column blocks, each with a remainder)', [70, 1030], [1, 0], 'float32', true],
    ['a column 65537 x 1', [65537, 1], [1, 0], 'float32', true],
    ['a batch of large matrices [2, 8192, 9]', [2, 8192, 9], [0, 2, 1], 'float32', true],
    ['int32 [8192, 9]', [8192, 9], [1, 0], 'int32', true],
    ['a batch of small matrices [3, 8192, 5] (stock kernel)', [3, 8192, 5], [0, 2, 1], 'float32', false],
    ['a short matrix 13 x 17 (stock kernel, faster there)', [13, 17], [1, 0], 'float32', false],
    ['PAT_sf k^T [4, 2, 49, 48] (stock kernel)', [4, 2, 49, 48], [0, 1, 3, 2], 'float32', false],
    ['another permutation [1, 0, 2] (stock kernel)', [8192, 2, 3], [1, 0, 2], 'float32', false],
  ];
  it.each(cases)('%s', (_name, shape, perm, dtype, taken) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(Array.from({ length: n }, (_, i) => (dtype === 'int32' ? i * 7 - 300 : Math.sin(i) * 1e3)), shape, dtype);
    const before = (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    const ours = tf.transpose(x, perm);
    const stock = withStock(() => tf.transpose(x, perm));
    expect(ours.shape).toEqual(stock.shape);
    const want = bits(stock);
    expect(bits(ours)).toEqual(want);
    tf.dispose([ours, stock]);
    expect((tf.backend() as unknown as { numDataIds(): number }).numDataIds()).toBe(before);
    // the override's own function: takes exactly the last-two-axes swaps, with the same bits
    const heap = wasmHeap(tf.backend());
    const direct = transposeLastTwo(heap, instantiateSimdKernels(heap.memory()!)!, x, perm);
    expect(direct !== undefined).toBe(taken);
    if (direct) {
      expect(Array.from(new Uint32Array(heap.buffer(), heap.offset(direct), n))).toEqual(want);
      heap.release(direct);
    }
    x.dispose();
  });
});

describe('matMulT on wasm picks the faster form per transpose', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  it('a^T @ b with C past L2 goes through a transpose of a and our product with relaxed SIMD, else the a^T b kernel; values as the reference', async () => {
    const a = tf.tensor(values([40, 520], 16), [40, 520]);
    const c = tf.tensor(values([40, 520], 17), [40, 520]);
    const want = reference(a, c, true, false);
    for (const relaxed of [true, false]) {
      allowRelaxedSimd(relaxed);
      try {
        const names = await kernelsRun(() => matMulT(a, c, true, false));
        expect(names, `relaxed SIMD ${relaxed}`).toEqual(relaxed ? ['Transpose', 'BatchMatMul'] : ['PartialnetMatMulTN']);
        const y = matMulT(a, c, true, false);
        expectNear(y, want, `a^T @ c, relaxed SIMD ${relaxed}`);
        y.dispose();
      } finally {
        allowRelaxedSimd(true);
      }
    }
    tf.dispose([a, c]);
  });

  it('a @ b^T runs the SIMD kernel with the flag (no Transpose); a^T @ b the a^T b kernel, or a transpose of a and a plain product where K is no multiple of 4; values as the reference', async () => {
    const a = tf.tensor(values([40, 24], 12), [40, 24]);
    const b = tf.tensor(values([16, 24], 13), [16, 24]);
    const c = tf.tensor(values([40, 16], 14), [40, 16]);
    const odd = tf.tensor(values([40, 22], 15), [40, 22]);
    const abT = await kernelsRun(() => matMulT(a, b, false, true));
    expect(abT).toContain('BatchMatMul');
    expect(abT).not.toContain('Transpose');
    expect(await kernelsRun(() => matMulT(a, c, true, false))).toEqual(['PartialnetMatMulTN']);
    expect(await kernelsRun(() => matMulT(odd, c, true, false))).toContain('Transpose');
    const y1 = matMulT(a, b, false, true);
    const y2 = matMulT(a, c, true, false);
    const y3 = matMulT(odd, c, true, false);
    expectNear(y1, reference(a, b, false, true), 'a @ b^T');
    expectNear(y2, reference(a, c, true, false), 'a^T @ c');
    expectNear(y3, reference(odd, c, true, false), 'odd^T @ c');
    tf.dispose([a, b, c, odd, y1, y2, y3]);
  });
});

describe('wasm BatchMatMul without the overrides (PARTIALNET_STOCK_KERNELS=1 path) is the stock kernel', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });
  afterAll(() => registerWasmKernelOverrides());

  it('restoreStockWasmKernels puts the stock BatchMatMul back and the result is unchanged', () => {
    const a = tf.tensor(values([2, 8, 5], 9), [2, 8, 5]);
    const b = tf.tensor(values([2, 5, 8], 10), [2, 5, 8]);
    restoreStockWasmKernels();
    const y = tf.matMul(a, b);
    expectNear(y, reference(a, b, false, false), 'stock');
    tf.dispose([a, b, y]);
  });
});
