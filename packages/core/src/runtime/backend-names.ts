import type { GpuAdapterInfo } from './backend.js';

// The platform-independent part of backend selection, shared by the Node probes (backend.ts) and
// the browser ones (backend.browser.ts).

/** Our names for the runtimes we can train and run on, in `auto` preference order. */
export type BackendName = 'tfjs-node-gpu' | 'webgpu' | 'tfjs-node' | 'wasm' | 'cpu';

export const BACKEND_NAMES: readonly BackendName[] = ['tfjs-node-gpu', 'webgpu', 'tfjs-node', 'wasm', 'cpu'];

export function isBackendName(value: string): value is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(value);
}

/** Parses a `--backend` / `PARTIALNET_BACKEND` value. */
export function parseBackendName(value: string): BackendName | 'auto' {
  const v = value.trim().toLowerCase();
  if (v === 'auto' || isBackendName(v)) return v;
  throw new Error(`unknown backend '${value}': expected auto, ${BACKEND_NAMES.join(', ')}`);
}

const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|software/i;

/** True for CPU implementations of WebGPU (SwiftShader, llvmpipe, ...): slower than our wasm path. */
export function isSoftwareAdapter(info: Partial<GpuAdapterInfo>, isFallbackAdapter = false): boolean {
  return isFallbackAdapter || SOFTWARE_ADAPTER.test([info.vendor, info.architecture, info.device, info.description].join(' '));
}
