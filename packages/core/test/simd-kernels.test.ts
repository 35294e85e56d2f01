import { describe, expect, it } from 'vitest';
import { geluGradLoop, geluLoop } from '../src/nn/gelu-math.js';
import { instantiateSimdKernels, simdKernelsBinary } from '../src/runtime/simd-kernels.js';

// The SIMD module on its own memory (plain and shared, the latter as tfjs's threaded build has),
// against the JavaScript loops it stands in for. The module is written by our own assembler, so
// this also checks the encoding.

const WA = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean; Memory: new (d: object) => { buffer: ArrayBuffer } } }).WebAssembly;

describe('WebAssembly SIMD kernels module', () => {
  it('validates for a plain and for a shared memory', () => {
    expect(WA.validate(simdKernelsBinary(false))).toBe(true);
    expect(WA.validate(simdKernelsBinary(true))).toBe(true);
  });

  it.each([
    ['plain', false],
    ['shared', true],
  ])('on a %s memory: gelu / geluGrad within 1e-6 of the float64 loops, copyRows exact', (_label, shared) => {
    const memory = new WA.Memory(shared ? { initial: 4, maximum: 16, shared: true } : { initial: 4 });
    const kernels = instantiateSimdKernels(memory);
    expect(kernels).toBeDefined();
    const n = 4096;
    const heap = new Float32Array(memory.buffer);
    const [x, y, dy, dx] = [0, 1, 2, 3].map((i) => heap.subarray(i * n, (i + 1) * n)) as [Float32Array, Float32Array, Float32Array, Float32Array];
    for (let i = 0; i < n; i++) {
      x[i] = (i / n) * 24 - 12;
      dy[i] = Math.cos(i);
    }
    kernels!.gelu(0, 4 * n, 4 * n);
    kernels!.geluGrad(0, 8 * n, 12 * n, 4 * n);
    const [wantY, wantDx] = [new Float32Array(n), new Float32Array(n)];
    geluLoop(x, wantY);
    geluGradLoop(x, dy, wantDx);
    for (let i = 0; i < n; i++) {
      expect(Math.abs(y[i]! - wantY[i]!)).toBeLessThan(1e-6);
      expect(Math.abs(dx[i]! - wantDx[i]!)).toBeLessThan(1e-6);
    }
    // 5 rows of 40 bytes from a 64-byte stride into a 44-byte stride; the 4 bytes between stay.
    const bytes = new Uint8Array(memory.buffer);
    for (let i = 0; i < 320; i++) bytes[i] = (i * 13) & 255;
    const dst = 1024;
    bytes.fill(7, dst, dst + 220);
    kernels!.copyRows(8, 64, dst, 44, 40, 5);
    for (let r = 0; r < 5; r++) {
      for (let b = 0; b < 44; b++) expect(bytes[dst + r * 44 + b]).toBe(b < 40 ? bytes[8 + r * 64 + b] : 7);
    }
  });

  it.each([
    ['plain', false],
    ['shared', true],
  ])('on a %s memory: matmul (plain, transposed A, strided C) and transpose within 1e-5 of float64', (_label, shared) => {
    const memory = new WA.Memory(shared ? { initial: 4, maximum: 16, shared: true } : { initial: 4 });
    const kernels = instantiateSimdKernels(memory)!;
    const heap = new Float32Array(memory.buffer);
    // M = 13, N = 11, K = 7: neither a multiple of the 4 x 8 tile (the last tiles overlap)
    const [m, n, k] = [13, 11, 7];
    const [a, b, c, t] = [0, 4096, 8192, 12288]; // float offsets
    for (let i = 0; i < m * k; i++) heap[a + i] = Math.sin(i * 0.9);
    for (let i = 0; i < k * n; i++) heap[b + i] = Math.cos(i * 0.4);
    const want = (i: number, j: number, transposedA: boolean): number => {
      let s = 0;
      for (let p = 0; p < k; p++) s += heap[a + (transposedA ? p * m + i : i * k + p)]! * heap[b + p * n + j]!;
      return s;
    };
    for (const transposedA of [false, true]) {
      // C with a row stride of n + 3 floats: the 3 floats after each row stay as they were
      heap.fill(-7, c, c + m * (n + 3));
      const [aRow, aCol] = transposedA ? [4, 4 * m] : [4 * k, 4];
      kernels.matmul(4 * a, aRow, aCol, 4 * b, 4 * n, 4 * c, 4 * (n + 3), m, n, k);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n + 3; j++) {
          const got = heap[c + i * (n + 3) + j]!;
          if (j >= n) expect(got).toBe(-7);
          else expect(Math.abs(got - want(i, j, transposedA))).toBeLessThan(1e-5);
        }
      }
    }
    kernels.transpose(4 * b, k, n, 4 * t);
    for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) expect(heap[t + j * k + p]).toBe(heap[b + p * n + j]);
  });

  it('gelu / geluGrad keep the negative tail to 2e-5 relative on [-13, -3] (no cancellation in 1 - erf)', () => {
    // Values there are 1e-3 down to 1e-37: an absolute bound says nothing about them. The
    // reference is the same erfc approximation in float64; the kernel is within ~8e-6 (its
    // exponent u = -x^2 log2(e) / 2 is rounded to float32).
    const memory = new WA.Memory({ initial: 4 });
    const kernels = instantiateSimdKernels(memory)!;
    const n = 4096;
    const heap = new Float32Array(memory.buffer);
    const [x, y, dy, dx] = [0, 1, 2, 3].map((i) => heap.subarray(i * n, (i + 1) * n)) as [Float32Array, Float32Array, Float32Array, Float32Array];
    for (let i = 0; i < n; i++) {
      x[i] = -13 + (10 * i) / (n - 1);
      dy[i] = 1;
    }
    kernels.gelu(0, 4 * n, 4 * n);
    kernels.geluGrad(0, 8 * n, 12 * n, 4 * n);
    const [wantY, wantDx] = [new Float32Array(n), new Float32Array(n)];
    geluLoop(x, wantY);
    geluGradLoop(x, dy, wantDx);
    let worst = 0;
    for (let i = 0; i < n; i++) {
      expect(wantY[i]).toBeLessThan(0);
      worst = Math.max(worst, Math.abs(y[i]! / wantY[i]! - 1), Math.abs(dx[i]! / wantDx[i]! - 1));
    }
    expect(worst).toBeLessThan(2e-5);
  });
});
