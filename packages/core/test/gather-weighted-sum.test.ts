import { beforeAll, describe, expect, it } from 'vitest';
import { gatherWeightedSum, setupBackend, tf } from '../src/index.js';
import { allowWasmSimdKernels, registerWasmKernelOverrides, restoreStockWasmKernels } from '../src/runtime/wasm-kernels.js';

// gatherWeightedSum (RoIAlign's weighted sums of feature rows) and its gradient against a float64
// reference, on the wasm kernels and on the tfjs composite. Both compute each product and each sum
// in float32, so they are held to 1e-5 of the sum of the terms' magnitudes.

function values(n: number, seed: number): Float32Array {
  return new Float32Array(n).map((_, i) => Math.sin(i * 0.731 + seed) * 2 + Math.cos(i * 0.117 * seed));
}

interface Case {
  tableRows: number;
  cols: number;
  rows: number;
  taps: number;
}

function operands({ tableRows, cols, rows, taps }: Case, seed: number): { index: Int32Array; weight: Float32Array; table: Float32Array; dy: Float32Array } {
  // repeated rows within a bin and across bins, and zero weights (RoIAlign's padded taps)
  const index = new Int32Array(rows * taps).map((_, i) => (i * 7 + seed + Math.floor(i / 5)) % tableRows);
  const weight = values(rows * taps, seed + 1).map((v, i) => (i % 9 === 4 ? 0 : v / 4));
  return { index, weight, table: values(tableRows * cols, seed + 2), dy: values(rows * cols, seed + 3) };
}

/** out and d table in float64, with the sums of |terms| for the tolerance. */
function reference(c: Case, o: ReturnType<typeof operands>): { out: Float64Array; outScale: Float64Array; grad: Float64Array; gradScale: Float64Array } {
  const { tableRows, cols, rows, taps } = c;
  const out = new Float64Array(rows * cols);
  const outScale = new Float64Array(rows * cols);
  const grad = new Float64Array(tableRows * cols);
  const gradScale = new Float64Array(tableRows * cols);
  for (let b = 0; b < rows; b++) {
    for (let t = 0; t < taps; t++) {
      const [r, w] = [o.index[b * taps + t]!, o.weight[b * taps + t]!];
      for (let j = 0; j < cols; j++) {
        const x = w * o.table[r * cols + j]!;
        out[b * cols + j] += x;
        outScale[b * cols + j] += Math.abs(x);
        const g = w * o.dy[b * cols + j]!;
        grad[r * cols + j] += g;
        gradScale[r * cols + j] += Math.abs(g);
      }
    }
  }
  return { out, outScale, grad, gradScale };
}

function expectNear(got: ArrayLike<number>, want: Float64Array, scale: Float64Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    const tol = 1e-5 * scale[i]! + 1e-30;
    if (!(err <= tol)) expect.fail(`${what}: element ${i} is ${got[i]}, reference ${want[i]} (|diff| ${err} > ${tol})`);
  }
}

/** Value, table gradient and the kernels that ran, for one case. */
async function run(c: Case, o: ReturnType<typeof operands>): Promise<{ out: Float32Array; grad: Float32Array; kernels: string[] }> {
  const table = tf.tensor2d(o.table, [c.tableRows, c.cols]);
  const index = tf.tensor2d(o.index, [c.rows, c.taps], 'int32');
  const weight = tf.tensor2d(o.weight, [c.rows, c.taps]);
  const dy = tf.tensor2d(o.dy, [c.rows, c.cols]);
  const f = (t: tf.Tensor): tf.Tensor => tf.sum(tf.mul(gatherWeightedSum(t as tf.Tensor2D, index, weight), dy));
  const profile = await tf.profile(() => tf.grad(f)(table));
  tf.dispose(profile.result as tf.Tensor);
  const out = gatherWeightedSum(table, index, weight);
  const grad = tf.grad(f)(table);
  const result = { out: (await out.data()) as Float32Array, grad: (await grad.data()) as Float32Array, kernels: profile.kernels.map((k) => k.name) };
  tf.dispose([table, index, weight, dy, out, grad]);
  return result;
}

describe('gatherWeightedSum (weighted sums of gathered rows) and its gradient on wasm', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  it.each([
    ['RoIAlign-like, 256 channels, 9 taps', { tableRows: 300, cols: 256, rows: 180, taps: 9 }],
    ['48 channels (three column blocks), one tap', { tableRows: 20, cols: 48, rows: 33, taps: 1 }],
    ['more rows than the table (every table row hit many times)', { tableRows: 7, cols: 16, rows: 400, taps: 4 }],
  ] as const)('%s: the fused kernels match a float64 reference, as the composite does, without leaks', async (_name, c) => {
    const o = operands(c, 3);
    const want = reference(c, o);
    const numTensors = tf.memory().numTensors;
    const fused = await run(c, o);
    expect(fused.kernels).toContain('PartialnetGatherWeightedSum');
    expect(fused.kernels).toContain('PartialnetScatterWeightedAdd');
    expect(fused.kernels).not.toContain('ScatterNd');
    expectNear(fused.out, want.out, want.outScale, 'fused value');
    expectNear(fused.grad, want.grad, want.gradScale, 'fused gradient');
    allowWasmSimdKernels(false);
    let composite: Awaited<ReturnType<typeof run>>;
    try {
      composite = await run(c, o);
    } finally {
      allowWasmSimdKernels(true);
    }
    expect(composite.kernels).not.toContain('PartialnetGatherWeightedSum');
    expect(composite.kernels).toContain('ScatterNd');
    expectNear(composite.out, want.out, want.outScale, 'composite value');
    expectNear(composite.grad, want.grad, want.gradScale, 'composite gradient');
    expect(tf.memory().numTensors).toBe(numTensors);
  });

  it('rows of a width the kernel does not take (20 floats) and the stock kernels (restoreStockWasmKernels) use the composite, same values', async () => {
    const c = { tableRows: 30, cols: 20, rows: 25, taps: 3 };
    const o = operands(c, 5);
    const want = reference(c, o);
    const narrow = await run(c, o);
    expect(narrow.kernels).not.toContain('PartialnetGatherWeightedSum');
    expectNear(narrow.out, want.out, want.outScale, 'value');
    expectNear(narrow.grad, want.grad, want.gradScale, 'gradient');
    const c16 = { tableRows: 30, cols: 32, rows: 25, taps: 3 };
    const o16 = operands(c16, 6);
    const want16 = reference(c16, o16);
    restoreStockWasmKernels();
    let stock: Awaited<ReturnType<typeof run>>;
    try {
      stock = await run(c16, o16);
    } finally {
      registerWasmKernelOverrides();
    }
    expect(stock.kernels).not.toContain('PartialnetGatherWeightedSum');
    expectNear(stock.out, want16.out, want16.outScale, 'stock value');
    expectNear(stock.grad, want16.grad, want16.gradScale, 'stock gradient');
  });

  it('an index outside the table is an error naming the tap, not a read past it; no rows gives [0, C]', () => {
    const table = tf.zeros([10, 16]) as tf.Tensor2D;
    const index = tf.tensor2d([1, 2, 10, 3], [2, 2], 'int32');
    const weight = tf.ones([2, 2]) as tf.Tensor2D;
    expect(() => gatherWeightedSum(table, index, weight)).toThrow(/index 10 \(tap 0 of row 1\) is outside the table's 10 rows/);
    const empty = gatherWeightedSum(table, tf.zeros([0, 4], 'int32') as tf.Tensor2D, tf.zeros([0, 4]) as tf.Tensor2D);
    expect(empty.shape).toEqual([0, 16]);
    expect(() => gatherWeightedSum(table, tf.zeros([2, 3], 'int32') as tf.Tensor2D, weight)).toThrow(/same shape/);
    tf.dispose([table, index, weight, empty]);
  });
});
