import { listBackends, type BackendName } from '@partialnet/core';

/**
 * The backends the backbone suites run on. A kernel can differ between backends (wasm's Sign was
 * 0 for |x| < 1.2e-7, issue 14), so every suite runs on each of them; one that is missing here is
 * reported as skipped with the reason, never dropped silently.
 *
 * WebGPU: a software adapter (Mesa lavapipe) counts, because these tests check correctness, not
 * speed. Set PARTIALNET_ALLOW_SOFTWARE_GPU=0 to leave it out.
 */
export interface TestBackend {
  name: BackendName;
  /** Why the backend cannot run here; undefined when it can. */
  skip: string | undefined;
  /** WebGPU on a software adapter is slow: suites use smaller inputs there. */
  small: boolean;
}

const CANDIDATES: BackendName[] = ['cpu', 'wasm', 'webgpu'];

process.env.PARTIALNET_ALLOW_SOFTWARE_GPU ??= '1';
const probes = await listBackends();

export const TEST_BACKENDS: TestBackend[] = CANDIDATES.map((name) => {
  const p = probes.find((q) => q.name === name)!;
  return { name, skip: p.available ? undefined : `${name} unavailable: ${p.reason ?? 'unknown reason'}`, small: name === 'webgpu' };
});
