// Backend choice in a browser: the same API as backend.ts (which probes Node packages), reached
// through the `#backend` import under the `browser` condition. The backends are bundled with the
// page: WebGPU through `navigator.gpu`, wasm with its .wasm files served beside the page, cpu.
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount, setWasmPaths, version_wasm } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-webgpu';
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import { tf } from '../tf.js';
import { BACKEND_NAMES, isSoftwareAdapter, type BackendName } from './backend-names.js';
import type { BackendProbe, BackendReport, GpuAdapterInfo } from './backend.js';

export { BACKEND_NAMES, isBackendName, isSoftwareAdapter, parseBackendName, type BackendName } from './backend-names.js';
export type { BackendProbe, BackendReport, GpuAdapterInfo } from './backend.js';
// In a page the count is informational (navigator.hardwareConcurrency by default): the wasm backend
// picks its own threads there, when the page is cross-origin isolated.
export { setThreads, requestedThreads, parseThreads, availableCores, WASM_MAX_THREADS } from './threads.js';

/**
 * A page has no environment to opt in with: forcing `webgpu` is the opt-in for a software adapter
 * there, and `auto` still skips one (setupBackend), as in Node.
 */
export function softwareGpuAllowed(): boolean {
  return true;
}

/** The page globals used here (core compiles without the DOM library). */
const page = globalThis as unknown as {
  navigator?: { gpu?: { requestAdapter(options?: object): Promise<BrowserAdapter | null> } };
  document?: { baseURI: string };
  location?: { href: string };
  WebAssembly?: unknown;
};

const TFJS_NAMES: Record<BackendName, string> = {
  'tfjs-node-gpu': 'tensorflow',
  webgpu: 'webgpu',
  'tfjs-node': 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

const VERSIONS: Record<string, string> = {
  '@tensorflow/tfjs-core': tf.version_core,
  '@tensorflow/tfjs-backend-cpu': version_cpu,
  '@tensorflow/tfjs-backend-wasm': version_wasm,
  // tfjs-backend-webgpu exports no version; it is released with tfjs-core.
  '@tensorflow/tfjs-backend-webgpu': tf.version_core,
};

const PACKAGES: Record<BackendName, string> = {
  'tfjs-node-gpu': '@tensorflow/tfjs-node-gpu',
  webgpu: '@tensorflow/tfjs-backend-webgpu',
  'tfjs-node': '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

const INSTALL_HINTS: Partial<Record<BackendName, string>> = {
  'tfjs-node-gpu': 'run in Node.js',
  'tfjs-node': 'run in Node.js',
  webgpu:
    'a browser with WebGPU (Chrome / Edge 113+, Safari 26+, Firefox 141+ on Windows) and a GPU; Chromium without ' +
    'a GPU offers a software adapter with --enable-unsafe-webgpu --use-webgpu-adapter=swiftshader',
  wasm: 'serve tfjs-backend-wasm.wasm, tfjs-backend-wasm-simd.wasm and tfjs-backend-wasm-threaded-simd.wasm beside the page',
};

/** Version of a bundled tfjs package (the others are not in a browser build). */
export function packageVersion(pkg: string): string | undefined {
  return VERSIONS[pkg];
}

interface BrowserAdapter {
  info?: Partial<GpuAdapterInfo>;
  isFallbackAdapter?: boolean;
  requestAdapterInfo?: () => Promise<Partial<GpuAdapterInfo>>;
}

async function runProbe(name: BackendName): Promise<BackendProbe> {
  const base: BackendProbe = { name, available: false, tfjsName: TFJS_NAMES[name] };
  const version = packageVersion(PACKAGES[name]);
  if (version) base.version = version;
  const fail = (reason: string): BackendProbe => ({ ...base, reason, ...(INSTALL_HINTS[name] ? { install: INSTALL_HINTS[name] } : {}) });
  switch (name) {
    case 'tfjs-node-gpu':
    case 'tfjs-node':
      return fail('a Node.js native addon: not available in a browser');
    case 'webgpu': {
      const gpu = page.navigator?.gpu;
      if (!gpu) return fail('this browser has no navigator.gpu (WebGPU is off or unsupported)');
      if (!tf.findBackendFactory('webgpu')) return fail('tfjs-backend-webgpu did not register');
      let adapter: BrowserAdapter | null;
      try {
        adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
      } catch (err) {
        return fail(`requestAdapter failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (!adapter) return fail('the browser offers no WebGPU adapter');
      const info = adapter.info ?? (await adapter.requestAdapterInfo?.()) ?? {};
      const gpuAdapter: GpuAdapterInfo = {
        vendor: info.vendor ?? '',
        architecture: info.architecture ?? '',
        device: info.device ?? '',
        description: info.description ?? '',
      };
      const software = isSoftwareAdapter(gpuAdapter, (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? adapter.isFallbackAdapter ?? false);
      return { ...base, available: true, gpuAdapter, ...(software ? { software } : {}) };
    }
    case 'wasm': {
      if (typeof page.WebAssembly !== 'object') return fail('this browser has no WebAssembly');
      if (!tf.findBackendFactory('wasm')) return fail(`${PACKAGES.wasm} registered no 'wasm' backend`);
      return { ...base, available: true };
    }
    case 'cpu':
      return { ...base, available: true };
  }
}

const probes = new Map<BackendName, Promise<BackendProbe>>();

function probe(name: BackendName): Promise<BackendProbe> {
  let p = probes.get(name);
  if (!p) {
    p = runProbe(name);
    probes.set(name, p);
  }
  return p;
}

/** Probes every backend (cached after the first call; nothing is switched). */
export async function listBackends(): Promise<BackendProbe[]> {
  return Promise.all(BACKEND_NAMES.map(probe));
}

let current: BackendReport | undefined;
let wasmPathsSet = false;

/** The report of the last successful `setupBackend`, if any. */
export function currentBackend(): BackendReport | undefined {
  return current && tf.getBackend() === current.tfjsName ? current : undefined;
}

async function activate(name: BackendName): Promise<void> {
  if (name === 'wasm' && !wasmPathsSet) {
    // Bundlers move the backend's script away from its .wasm files; the page serves them beside itself.
    setWasmPaths(new URL('./', page.document?.baseURI ?? page.location?.href).href);
    wasmPathsSet = true;
  }
  const tfjsName = TFJS_NAMES[name];
  const ok = await tf.setBackend(tfjsName);
  const actual = tf.getBackend();
  if (!ok || actual !== tfjsName) {
    throw new Error(`tf.setBackend('${tfjsName}') ${ok ? 'succeeded' : 'failed'} but the active backend is '${actual}'`);
  }
}

/**
 * Selects the backend: `auto` takes WebGPU on a hardware adapter, else wasm, else cpu; a forced
 * name that does not work throws with the reason. Forcing `webgpu` is the opt-in for a software
 * adapter (SwiftShader), which `auto` skips because wasm is faster there.
 */
export async function setupBackend(requested: BackendName | 'auto' = 'auto'): Promise<BackendReport> {
  if (current && current.requested === requested && tf.getBackend() === current.tfjsName) return current;
  const candidates = requested === 'auto' ? BACKEND_NAMES : [requested];
  const failures: string[] = [];
  for (const name of candidates) {
    let p = await probe(name);
    if (requested === 'auto' && p.software) {
      failures.push(`${name}: only a software adapter (slower than wasm; force webgpu to use it)`);
      continue;
    }
    if (p.available) {
      try {
        await activate(name);
      } catch (err) {
        p = { ...p, available: false, reason: `failed to start: ${err instanceof Error ? err.message : String(err)}` };
        probes.set(name, Promise.resolve(p));
      }
    }
    if (!p.available) {
      failures.push(`${name}: ${p.reason}`);
      if (requested !== 'auto') {
        const why = (p.reason ?? 'unknown reason').replace(/\.$/, '');
        throw new Error(`backend '${name}' is not available: ${why}.${p.install ? `\nTo use it: ${p.install}.` : ''}`);
      }
      continue;
    }
    const all = await listBackends();
    const report: BackendReport = {
      name,
      tfjsName: tf.getBackend(),
      version: p.version ?? 'unknown',
      requested,
      available: all.filter((b) => b.available).map((b) => b.name),
      probes: all,
    };
    if (p.gpuAdapter) report.gpuAdapter = p.gpuAdapter;
    if (name === 'wasm') report.wasm = { simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')), threads: getThreadsCount() };
    current = report;
    return report;
  }
  throw new Error(`no TensorFlow.js backend could start:\n  ${failures.join('\n  ')}`);
}
