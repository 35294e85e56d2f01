import { listBackends, type BackendName } from '@partialnet/core';
import type { SemanticFpnConfig } from '../src/index.js';
import { semanticFpn } from '../src/index.js';

/** A small custom PartialNet (embed 16, one block per stage) under a narrow Semantic FPN: fast on CPUs. */
export function tinyConfig(numClasses = 5): SemanticFpnConfig {
  const c = semanticFpn({ numClasses });
  return { ...c, backbone: { variant: { embedDim: 16, depths: [1, 1, 1, 1] } }, neck: { ...c.neck, outChannels: 16 }, head: { ...c.head, channels: 8 } };
}

/** wasm and cpu always; webgpu when an adapter is found (software adapters when PARTIALNET_ALLOW_SOFTWARE_GPU=1). */
export async function testBackends(): Promise<{ name: BackendName; available: boolean; reason?: string }[]> {
  const probes = await listBackends();
  return (['wasm', 'cpu', 'webgpu'] as const).map((name) => {
    const p = probes.find((q) => q.name === name);
    return { name, available: p?.available ?? false, ...(p?.reason ? { reason: p.reason } : {}) };
  });
}
