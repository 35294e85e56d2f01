import { afterAll, describe, expect, it } from 'vitest';
import { listBackends, setupBackend } from '../src/runtime/backend.js';

// Probes are cached per process (vitest runs each file in its own), so the opt-in is set first.
const saved = process.env.PARTIALNET_ALLOW_SOFTWARE_GPU;
process.env.PARTIALNET_ALLOW_SOFTWARE_GPU = '1';
const webgpu = (await listBackends()).find((p) => p.name === 'webgpu')!;
const noSoftwareAdapter = !webgpu.software;

afterAll(async () => {
  if (saved === undefined) delete process.env.PARTIALNET_ALLOW_SOFTWARE_GPU;
  else process.env.PARTIALNET_ALLOW_SOFTWARE_GPU = saved;
  await setupBackend('cpu');
});

describe('PARTIALNET_ALLOW_SOFTWARE_GPU=1', () => {
  it.skipIf(noSoftwareAdapter)('makes a software WebGPU adapter available to a forced webgpu, never to auto', async () => {
    expect(webgpu.available).toBe(true);
    expect(webgpu.gpuAdapter).toBeDefined();
    const auto = await setupBackend('auto');
    expect(auto.name).not.toBe('webgpu');
    const forced = await setupBackend('webgpu');
    expect(forced.name).toBe('webgpu');
    expect(forced.gpuAdapter).toEqual(webgpu.gpuAdapter);
  });
});
