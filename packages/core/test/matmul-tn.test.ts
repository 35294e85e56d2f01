import { beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tf } from '../src/index.js';
import { matMulT } from '../src/ops/matmul.js';
import { matMulTNWasm, setWasmPoolThreads } from '../src/ops/matmul-tn.js';
import { configureKernelPool } from '../src/runtime/kernel-pool.js';
import { allowRelaxedSimd } from '../src/runtime/relaxed-simd.js';

function values(shape: [number, number], seed: number): tf.Tensor2D {
  return tf.tensor2d(Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => Math.sin(i * 0.61 + seed) + 0.25 * Math.cos(i * 2.3 - seed)), shape);
}

/** a^T b in float64 from the host values: the reference both float32 products are held to. */
async function exact(a: tf.Tensor2D, b: tf.Tensor2D): Promise<Float64Array> {
  const [m, k] = a.shape;
  const n = b.shape[1];
  const [av, bv] = [await a.data(), await b.data()];
  const out = new Float64Array(k * n);
  for (let r = 0; r < m; r++) for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) out[i * n + j]! += av[r * k + i]! * bv[r * n + j]!;
  return out;
}

describe('a^T b on wasm (the weight-gradient kernel)', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
    setWasmPoolThreads(1);
    // our kernel on one thread too (kernel-pool.test.ts covers the pool)
    configureKernelPool(1, undefined);
  });

  it.each([
    [1, 4, 4, true],
    [7, 4, 8, true],
    [33, 12, 20, true],
    [300, 8, 12, true],
    [2049, 32, 64, true],
    [5000, 48, 32, true],
    [640, 256, 132, true],
    [33, 12, 20, false],
    [640, 256, 132, false],
  ])('[M=%i, K=%i]^T [M, N=%i] (relaxed SIMD allowed: %s) matches a float64 product within 2e-6 of its scale, and frees what it makes', async (m, k, n, relaxed) => {
    const a = values([m, k], 1);
    const b = values([m, n], 2);
    const before = tf.memory().numTensors;
    allowRelaxedSimd(relaxed);
    let got: tf.Tensor2D | undefined;
    try {
      got = matMulTNWasm(a, b);
    } finally {
      allowRelaxedSimd(true);
    }
    expect(got).toBeDefined();
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(got!.shape).toEqual([k, n]);
    const want = await exact(a, b);
    const data = await got!.data();
    const scale = Math.max(...want.map(Math.abs));
    for (let i = 0; i < want.length; i++) expect(Math.abs(data[i]! - want[i]!)).toBeLessThan(2e-6 * scale * Math.max(1, Math.sqrt(m / 64)));
    tf.dispose([a, b, got!]);
  });

  it('writes C without reading it: the output is the product over memory that held other values, and zeros for M = 0', async () => {
    // fill the heap's free space with NaN-producing garbage, freed, so the next outputs may land on it
    tf.dispose(Array.from({ length: 4 }, () => tf.fill([64, 64], Number.NaN)));
    const a = values([40, 8], 3);
    const b = values([40, 12], 4);
    const got = tf.engine().runKernel('PartialnetMatMulTN', { a, b }) as tf.Tensor;
    const want = await exact(a, b);
    const data = await got.data();
    for (let i = 0; i < want.length; i++) expect(Math.abs(data[i]! - want[i]!)).toBeLessThan(1e-5);
    const [za, zb] = [tf.zeros([0, 8]), tf.zeros([0, 12])];
    const empty = tf.engine().runKernel('PartialnetMatMulTN', { a: za, b: zb }) as tf.Tensor;
    expect(empty.shape).toEqual([8, 12]);
    expect(Array.from(await empty.data())).toEqual(new Array(96).fill(0));
    tf.dispose([a, b, got, za, zb, empty]);
  });

  it('matMulT(a, b, true) takes it and agrees with the transposed XNNPACK product', async () => {
    const a = values([4000, 64], 3);
    const b = values([4000, 128], 4);
    const viaKernel = matMulT(a, b, true, false);
    const plain = tf.matMul(tf.transpose(a), b);
    const [x, y] = [await viaKernel.data(), await plain.data()];
    const scale = Math.max(...Array.from(y, Math.abs));
    for (let i = 0; i < y.length; i++) expect(Math.abs(x[i]! - y[i]!)).toBeLessThan(1e-5 * scale);
    const info = await tf.profile(() => {
      matMulT(a, b, true, false).dispose();
    });
    expect(info.kernels.map((k) => k.name)).toEqual(['PartialnetMatMulTN']);
    tf.dispose([a, b, viaKernel, plain]);
  });

  it('steps aside where it cannot or should not run: K or N not a multiple of 4, XNNPACK on more threads for wide products', () => {
    const a = values([100, 6], 5);
    const b = values([100, 8], 6);
    expect(matMulTNWasm(a, b)).toBeUndefined();
    const wide = [values([64, 256], 7), values([64, 256], 8)] as const;
    expect(matMulTNWasm(...wide)).toBeDefined();
    setWasmPoolThreads(2);
    try {
      const got = matMulTNWasm(...wide);
      expect(got).toBeUndefined();
      // thin products stay ours: XNNPACK's transpose and repack cost more than its second thread saves
      const thin = matMulTNWasm(values([64, 32], 9), values([64, 64], 10));
      expect(thin).toBeDefined();
      // with our kernel on as many threads (the kernel pool; here one that never starts, so the
      // product itself runs serially) wide products stay ours too
      configureKernelPool(2, () => undefined);
      expect(matMulTNWasm(...wide)).toBeDefined();
    } finally {
      setWasmPoolThreads(1);
      configureKernelPool(1, undefined);
    }
  });
});
