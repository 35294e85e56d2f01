import { afterAll, describe, expect, it } from 'vitest';
import {
  BACKEND_NAMES,
  isSoftwareAdapter,
  listBackends,
  parseBackendName,
  setupBackend,
  currentBackend,
} from '../src/runtime/backend.js';
import { tf } from '../src/tf.js';
import { requestedThreads, WASM_MAX_THREADS } from '../src/runtime/threads.js';

const savedEnv = process.env.PARTIALNET_BACKEND;
// What this machine has decides which checks apply; the others are skipped visibly, with the reason.
const machine = await listBackends();
const tfjsNodeAvailable = machine.find((p) => p.name === 'tfjs-node')!.available;
const everyBackendAvailable = machine.every((p) => p.available);
afterAll(async () => {
  if (savedEnv === undefined) delete process.env.PARTIALNET_BACKEND;
  else process.env.PARTIALNET_BACKEND = savedEnv;
  await setupBackend('cpu');
});

/** Runs a tiny op on the active backend and checks both the result and that nothing leaked. */
function checkArithmetic(): void {
  const before = tf.memory().numTensors;
  const a = tf.tensor1d([1, 2, 3]);
  const b = tf.tensor1d([10, 20, 30]);
  const c = tf.add(a, b);
  expect(Array.from(c.dataSync())).toEqual([11, 22, 33]);
  tf.dispose([a, b, c]);
  expect(tf.memory().numTensors).toBe(before);
}

describe('listBackends', () => {
  it('probes every backend in auto order, with a version, and a reason plus install hint when unavailable', async () => {
    const probes = await listBackends();
    expect(probes.map((p) => p.name)).toEqual([...BACKEND_NAMES]);
    for (const p of probes) {
      expect(p.version, p.name).toMatch(/^\d+\.\d+\.\d+/);
      if (!p.available) {
        expect(p.reason, p.name).toBeTruthy();
        expect(p.install, p.name).toBeTruthy();
      }
    }
    // The reference backends ship as regular dependencies and must work everywhere.
    expect(probes.find((p) => p.name === 'cpu')!.available).toBe(true);
    expect(probes.find((p) => p.name === 'wasm')!.available).toBe(true);
  });

  it('is cached: a second call probes nothing and returns the same probe objects', async () => {
    const first = await listBackends();
    const second = await listBackends();
    expect(second).toHaveLength(first.length);
    second.forEach((p, i) => expect(p, p.name).toBe(first[i]));
  });

  it.skipIf(tfjsNodeAvailable)(`says why tfjs-node is unusable when its native addon is missing${tfjsNodeAvailable ? ' (skipped: tfjs-node is installed here)' : ''}`, async () => {
    const node = (await listBackends()).find((p) => p.name === 'tfjs-node')!;
    expect(node.reason).toMatch(/not installed|native addon|tfjs_binding|libtensorflow/);
    expect(node.install).toMatch(/pnpm add @tensorflow\/tfjs-node/);
  });
});

describe('setupBackend', () => {
  it('forcing wasm gives wasm with SIMD and the requested threads (at most 8), verified with tf.getBackend()', async () => {
    const report = await setupBackend('wasm');
    expect(report.name).toBe('wasm');
    expect(report.tfjsName).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(report.wasm?.simd).toBe(true);
    expect(report.wasm?.threads).toBe(Math.min(requestedThreads(), WASM_MAX_THREADS));
    expect(report.available).toContain('wasm');
    checkArithmetic();
  });

  it('forcing cpu switches, and a repeated request returns the cached report', async () => {
    const report = await setupBackend('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(await setupBackend('cpu')).toBe(report);
    expect(currentBackend()).toBe(report);
    checkArithmetic();
  });

  it('auto picks the first available backend in order, passing over a software GPU adapter', async () => {
    const probes = await listBackends();
    const expected = probes.find((p) => p.available && !p.software)!.name;
    const report = await setupBackend('auto');
    expect(report.name).toBe(expected);
    expect(report.requested).toBe('auto');
    expect(report.probes.map((p) => p.name)).toEqual([...BACKEND_NAMES]);
    checkArithmetic();
  });

  it.skipIf(everyBackendAvailable)(`forcing an unavailable backend throws with the reason and how to install it${everyBackendAvailable ? ' (skipped: every backend works here)' : ''}`, async () => {
    const missing = (await listBackends()).find((p) => !p.available)!;
    const active = tf.getBackend();
    await expect(setupBackend(missing.name)).rejects.toThrow(
      new RegExp(`backend '${missing.name}' is not available: .+\\.\\nTo use it: .+`),
    );
    expect(tf.getBackend()).toBe(active);
  });

  it('reads PARTIALNET_BACKEND and rejects unknown names', async () => {
    process.env.PARTIALNET_BACKEND = 'cpu';
    expect((await setupBackend()).name).toBe('cpu');
    process.env.PARTIALNET_BACKEND = 'tpu';
    await expect(setupBackend()).rejects.toThrow(/unknown backend 'tpu': expected auto, tfjs-node-gpu, webgpu, tfjs-node, wasm, cpu/);
    delete process.env.PARTIALNET_BACKEND;
  });
});

describe('helpers', () => {
  it('parseBackendName accepts any case and auto', () => {
    expect(parseBackendName('WASM')).toBe('wasm');
    expect(parseBackendName(' auto ')).toBe('auto');
    expect(() => parseBackendName('gpu')).toThrow(/unknown backend 'gpu'/);
  });

  it('recognises software WebGPU adapters', () => {
    expect(isSoftwareAdapter({ vendor: 'google', architecture: 'swiftshader', device: '', description: 'SwiftShader Device (Subzero)' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.7, 256 bits)' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200' })).toBe(false);
    expect(isSoftwareAdapter({ vendor: 'nvidia', description: 'NVIDIA H200' }, true)).toBe(true);
  });
});
