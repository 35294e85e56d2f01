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
