// channelStyle / channelGate (ops/channel-style.ts): the fused wasm kernels against the composite
// they replace (the same backend with the kernels unregistered), a float64 reference for data far
// from 0, the edge cases (std = 0, 1x1 maps), and which kernels run.
import { beforeAll, describe, expect, it } from 'vitest';
import { channelGate, channelStyle, setupBackend, tf } from '../src/index.js';
import { channelStyleKernelsApply, registerChannelStyleKernels, unregisterChannelStyleKernels } from '../src/ops/channel-style.js';
import { withStock } from './wasm-stock.js';

/** Deterministic N(0, 1) samples (Box-Muller on a 32-bit LCG). */
function normals(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

interface Results {
  style: Float32Array;
  dxStyle: Float32Array;
  gated: Float32Array;
  shifted: Float32Array;
  dxGate: Float32Array;
  dgate: Float32Array;
  fused: boolean;
}

/**
 * Forward and gradients of both ops on x (offset + per-channel scale * N(0, 1)): the losses weight
 * the outputs by fixed probes so that every gradient term is exercised.
 */
async function run(shape: [number, number, number, number], offset: number, seed: number): Promise<Results> {
  const [n, , , c] = shape;
  const size = shape.reduce((a, b) => a * b, 1);
  const x = tf.tensor4d(Float32Array.from(normals(size, seed), (v, i) => offset + (0.5 + (i % c) / c) * v), shape);
  const gate = tf.tensor2d(Float32Array.from(normals(n * c, seed + 1), (v) => 0.5 + 0.25 * v), [n, c]);
  const shift = tf.tensor1d(normals(c, seed + 4));
  const styleProbe = tf.tensor2d(normals(n * 2 * c, seed + 2), [n, 2 * c]);
  const gateProbe = tf.tensor4d(normals(size, seed + 3), shape);
  const fused = channelStyleKernelsApply(x);
  const style = channelStyle(x);
  const gated = channelGate(x, gate);
  const shifted = channelGate(x, gate, shift);
  const dxStyle = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(channelStyle(v as tf.Tensor4D), styleProbe)))(x);
  const [dxGate, dgate] = tf.grads((v: tf.Tensor, g: tf.Tensor) => tf.sum(tf.mul(channelGate(v as tf.Tensor4D, g as tf.Tensor2D), gateProbe)))([x, gate]);
  const read = async (t: tf.Tensor): Promise<Float32Array> => (await t.data()) as Float32Array;
  const out = { style: await read(style), dxStyle: await read(dxStyle), gated: await read(gated), shifted: await read(shifted), dxGate: await read(dxGate!), dgate: await read(dgate!), fused };
  tf.dispose([x, gate, shift, styleProbe, gateProbe, style, gated, shifted, dxStyle, dxGate!, dgate!]);
  return out;
}

async function composite<T>(fn: () => Promise<T>): Promise<T> {
  unregisterChannelStyleKernels();
  try {
    return await fn();
  } finally {
    registerChannelStyleKernels();
  }
}

/** max |a - b| / max |b|: the error relative to the largest term (NaN when either has a NaN). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]!) || Number.isNaN(b[i]!)) return NaN;
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

/** Kernel names a call runs (tf.profile). */
async function kernelsRun(fn: () => tf.Tensor | tf.Tensor[]): Promise<string[]> {
  const info = await tf.profile(() => fn());
  tf.dispose(info.result as tf.Tensor | tf.Tensor[]);
  return info.kernelNames;
}

describe('channelStyle and channelGate on wasm', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  it.each([
    ['[2, 5, 7, 24]', [2, 5, 7, 24]],
    ['[3, 4, 4, 5] (C not a multiple of 4: an overlapping last vector)', [3, 4, 4, 5]],
    ['[2, 3, 5, 21] (a block of 16 channels, one vector and the overlapping last one)', [2, 3, 5, 21]],
    ['[4, 14, 14, 48] (several 64-row chunks per image)', [4, 14, 14, 48]],
    ['[1, 2, 1, 7] (two pixels)', [1, 2, 1, 7]],
  ] as const)('%s: forward and the gradients of both ops match the composite', async (_label, shape) => {
    const before = tf.memory().numTensors;
    const ours = await run([...shape], 0.5, 11);
    const ref = await composite(() => run([...shape], 0.5, 11));
    expect(ours.fused).toBe(true);
    expect(ref.fused).toBe(false);
    // forward: float32 sums in another order (the composite's AvgPool)
    expect(relErr(ours.style, ref.style)).toBeLessThan(2e-6);
    // the gate is a product either way: same bits
    expect(relErr(ours.gated, ref.gated)).toBe(0);
    expect(relErr(ours.shifted, ref.shifted)).toBeLessThan(1e-6);
    // gradients: dx's terms dmean / P and dstd (x - mean) / ((P - 1) std) are each a few float32
    // roundings from the composite's; dgate is a sum over H W
    expect(relErr(ours.dxStyle, ref.dxStyle)).toBeLessThan(1e-5);
    expect(relErr(ours.dxGate, ref.dxGate)).toBe(0);
    expect(relErr(ours.dgate, ref.dgate)).toBeLessThan(2e-6);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('data at 1000 + N(0, 1): mean to float32 rounding, std and its gradient within 1e-5 of a float64 reference', async () => {
    const shape: [number, number, number, number] = [2, 28, 28, 12];
    const [n, h, w, c] = shape;
    const p = h * w;
    const raw = Float32Array.from(normals(n * p * c, 21), (v) => 1000 + v);
    const dstyle = normals(n * 2 * c, 22);
    const mean64 = new Float64Array(n * c);
    const std64 = new Float64Array(n * c);
    for (let i = 0; i < raw.length; i++) mean64[Math.floor(i / (p * c)) * c + (i % c)]! += raw[i]! / p;
    for (let i = 0; i < raw.length; i++) {
      const j = Math.floor(i / (p * c)) * c + (i % c);
      std64[j]! += (raw[i]! - mean64[j]!) ** 2 / (p - 1);
    }
    for (let j = 0; j < n * c; j++) std64[j] = Math.sqrt(std64[j]!);
    const dx64 = Float64Array.from(raw, (v, i) => {
      const img = Math.floor(i / (p * c));
      const j = img * c + (i % c);
      return dstyle[img * 2 * c + (i % c)]! / p + (dstyle[img * 2 * c + c + (i % c)]! * (v - mean64[j]!)) / ((p - 1) * std64[j]!);
    });
    const compute = async (): Promise<{ style: Float32Array; dx: Float32Array; fused: boolean }> => {
      const x = tf.tensor4d(raw, shape);
      const dy = tf.tensor2d(dstyle, [n, 2 * c]);
      const fused = channelStyleKernelsApply(x);
      const style = channelStyle(x);
      const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(channelStyle(v as tf.Tensor4D), dy)))(x);
      const out = { style: (await style.data()) as Float32Array, dx: (await dx.data()) as Float32Array, fused };
      tf.dispose([x, dy, style, dx]);
      return out;
    };
    const ours = await compute();
    const ref = await composite(compute);
    expect(ours.fused).toBe(true);
    const meanErr = (s: Float32Array): number => Math.max(...Array.from(mean64, (m, j) => Math.abs(s[Math.floor(j / c) * 2 * c + (j % c)]! - m)));
    const stdErr = (s: Float32Array): number => Math.max(...Array.from(std64, (m, j) => Math.abs(s[Math.floor(j / c) * 2 * c + c + (j % c)]! - m) / m));
    // float32 holds 1000 to within 3.1e-5 (half its spacing there)
    expect(meanErr(ours.style)).toBeLessThan(4e-5);
    expect(stdErr(ours.style)).toBeLessThan(1e-5);
    expect(relErr(ours.dx, dx64)).toBeLessThan(1e-5);
    // at least as accurate as the composite
    expect(stdErr(ours.style)).toBeLessThanOrEqual(stdErr(ref.style) + 1e-7);
  });

  it('a constant channel (std = 0): std is 0 and dx = dmean / P, finite (the composite gives NaN there)', async () => {
    const shape: [number, number, number, number] = [2, 3, 3, 6];
    const values = Float32Array.from(normals(2 * 9 * 6, 31), (v, i) => (i % 6 === 2 ? 4 : v));
    const dstyle = tf.tensor2d(normals(2 * 12, 32), [2, 12]);
    const compute = async (): Promise<{ style: Float32Array; dx: Float32Array }> => {
      const x = tf.tensor4d(values, shape);
      const style = channelStyle(x);
      const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(channelStyle(v as tf.Tensor4D), dstyle)))(x);
      const out = { style: (await style.data()) as Float32Array, dx: (await dx.data()) as Float32Array };
      tf.dispose([x, style, dx]);
      return out;
    };
    const ours = await compute();
    const ref = await composite(compute);
    const d = (await dstyle.data()) as Float32Array;
    for (let img = 0; img < 2; img++) {
      expect(ours.style[img * 12 + 6 + 2]).toBe(0);
      for (let px = 0; px < 9; px++) expect(ours.dx[(img * 9 + px) * 6 + 2]).toBeCloseTo(d[img * 12 + 2]! / 9, 7);
    }
    expect(ours.dx.every(Number.isFinite)).toBe(true);
    expect(ref.dx.some(Number.isNaN)).toBe(true);
    // the other channels agree with the composite
    const others = (a: Float32Array): number[] => Array.from(a).filter((_, i) => i % 6 !== 2);
    expect(relErr(others(ours.dx), others(ref.dx))).toBeLessThan(1e-5);
    dstyle.dispose();
  });

  it('1x1 maps: std is NaN (as torch.std and the composite), the mean passes through, dx = dmean', async () => {
    const x = tf.tensor4d(normals(3 * 8, 41), [3, 1, 1, 8]);
    const dy = tf.tensor2d(normals(3 * 16, 42), [3, 16]);
    const style = (await channelStyle(x).data()) as Float32Array;
    const ref = (await composite(async () => channelStyle(x).data())) as Float32Array;
    const xs = (await x.data()) as Float32Array;
    for (let img = 0; img < 3; img++) {
      for (let ch = 0; ch < 8; ch++) {
        expect(style[img * 16 + ch]).toBe(xs[img * 8 + ch]);
        expect(style[img * 16 + 8 + ch]).toBeNaN();
        expect(ref[img * 16 + 8 + ch]).toBeNaN();
      }
    }
    const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(channelStyle(v as tf.Tensor4D), dy)))(x);
    const d = (await dy.data()) as Float32Array;
    const dxs = (await dx.data()) as Float32Array;
    for (let img = 0; img < 3; img++) for (let ch = 0; ch < 8; ch++) expect(dxs[img * 8 + ch]).toBe(d[img * 16 + ch]);
    tf.dispose([x, dy, dx]);
  });

  it('runs the fused kernels (forward and gradients) on wasm, and the stock composite after restoreStockWasmKernels', async () => {
    const x = tf.randomNormal([2, 6, 6, 12], 0, 1, 'float32', 5) as tf.Tensor4D;
    const gate = tf.randomUniform([2, 12], 0, 1, 'float32', 6) as tf.Tensor2D;
    const step = (): tf.Tensor[] => tf.grads((v: tf.Tensor, g: tf.Tensor) => tf.sum(tf.mul(channelGate(v as tf.Tensor4D, g as tf.Tensor2D), tf.sum(channelStyle(v as tf.Tensor4D)))))([x, gate]);
    const fused = await kernelsRun(step);
    for (const k of ['PartialnetChannelStyle', 'PartialnetChannelStyleGrad', 'PartialnetChannelGate', 'PartialnetChannelGateGrad']) expect(fused).toContain(k);
    expect(fused).not.toContain('AvgPool');
    const stock = await withStock(() => kernelsRun(step));
    expect(stock.filter((k) => k.startsWith('PartialnetChannel'))).toEqual([]);
    expect(stock).toContain('AvgPool');
    expect(stock).toContain('Sqrt');
    tf.dispose([x, gate]);
  });

  it('fewer than 4 channels take the composite; a gate of the wrong shape is refused with the shapes', async () => {
    const x = tf.randomNormal([2, 3, 3, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const gate = tf.ones([2, 3]) as tf.Tensor2D;
    expect(channelStyleKernelsApply(x)).toBe(false);
    const names = await kernelsRun(() => [channelStyle(x), channelGate(x, gate)]);
    expect(names.filter((k) => k.startsWith('PartialnetChannel'))).toEqual([]);
    expect(() => channelGate(x, tf.ones([3, 2]) as tf.Tensor2D)).toThrow(/expected gate \[2, 3\] for x \[2, 3, 3, 3\], got \[3, 2\]/);
    tf.dispose([x, gate]);
  });
});

describe('channelStyle and channelGate on the cpu backend', () => {
  it('are the composite there (no fused kernel) and agree with wasm', async () => {
    await setupBackend('wasm');
    const values = normals(2 * 5 * 5 * 9, 51);
    const onWasm = await tf.tidy(() => channelStyle(tf.tensor4d(values, [2, 5, 5, 9]))).data();
    await setupBackend('cpu');
    try {
      const x = tf.tensor4d(values, [2, 5, 5, 9]);
      expect(channelStyleKernelsApply(x)).toBe(false);
      const info = await tf.profile(() => channelStyle(x));
      expect(info.kernelNames.filter((k) => k.startsWith('Partialnet'))).toEqual([]);
      expect(relErr((await (info.result as tf.Tensor).data()) as Float32Array, onWasm as Float32Array)).toBeLessThan(2e-6);
      tf.dispose([x, info.result as tf.Tensor]);
    } finally {
      await setupBackend('wasm');
    }
  });
});
