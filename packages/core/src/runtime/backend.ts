import { execFile } from 'node:child_process';
import v8 from 'node:v8';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { tf } from '../tf.js';
import { requestedThreads, WASM_MAX_THREADS } from './threads.js';
import { withThreadedWasm } from './wasm-threads.js';
import { setWasmPoolThreads } from '../ops/matmul-tn.js';
import { configureKernelPool, kernelPoolThreads } from './kernel-pool.js';
import { NODE_POOL_MAX_THREADS, nodeKernelPool } from './kernel-pool-node.js';
import { registerWasmKernelOverrides, restoreStockWasmKernels } from './wasm-kernels.js';
import { allowRelaxedSimd, recheckRelaxedSimd, relaxedSimdSupported } from './relaxed-simd.js';
import { registerCpuGeluKernels } from '../nn/gelu-kernels.js';
import { BACKEND_NAMES, isSoftwareAdapter, parseBackendName, type BackendName } from './backend-names.js';

export { BACKEND_NAMES, isBackendName, isSoftwareAdapter, parseBackendName, type BackendName } from './backend-names.js';
export { setThreads, requestedThreads, parseThreads, availableCores, WASM_MAX_THREADS } from './threads.js';

export interface GpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

export interface BackendProbe {
  name: BackendName;
  /** True when the backend can be selected in this process. */
  available: boolean;
  /** Why it is not available (the load error), when it is not. */
  reason?: string;
  /** How to make it available, when it is not. */
  install?: string;
  /** Version of the npm package that provides it. */
  version?: string;
  /** The name tfjs registers it under (`tensorflow` for both tfjs-node flavours). */
  tfjsName: string;
  gpuAdapter?: GpuAdapterInfo;
  /** webgpu: the adapter is a CPU implementation (lavapipe, SwiftShader); `auto` never picks it. */
  software?: boolean;
  /** webgpu: what Dawn and the Vulkan loader printed while probing (kept out of the terminal). */
  driverLog?: string[];
}

export interface BackendReport {
  /** The backend now active. */
  name: BackendName;
  /** What `tf.getBackend()` says. */
  tfjsName: string;
  version: string;
  /** What was asked for (`auto` or a forced name). */
  requested: BackendName | 'auto';
  /** Every backend that could be selected. */
  available: BackendName[];
  probes: BackendProbe[];
  gpuAdapter?: GpuAdapterInfo;
  /**
   * wasm only: what the runtime is using. `threads`: the threads a step runs on (XNNPACK's pool or
   * our kernel pool, whichever is larger); `xnnpackThreads`: XNNPACK's own (PARTIALNET_XNNPACK_THREADS).
   */
  wasm?: { simd: boolean; threads: number; xnnpackThreads?: number };
}

const TFJS_NAMES: Record<BackendName, string> = {
  'tfjs-node-gpu': 'tensorflow',
  webgpu: 'webgpu',
  'tfjs-node': 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

const PACKAGES: Record<BackendName, string> = {
  'tfjs-node-gpu': '@tensorflow/tfjs-node-gpu',
  webgpu: '@tensorflow/tfjs-backend-webgpu',
  'tfjs-node': '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

const INSTALL_HINTS: Record<BackendName, string> = {
  'tfjs-node-gpu':
    '`pnpm add @tensorflow/tfjs-node-gpu` in packages/core; its install script downloads libtensorflow ' +
    '(needs network access) and it runs only on Linux x64 with an NVIDIA driver, CUDA 11.x and cuDNN 8',
  webgpu:
    'needs a GPU with a Vulkan (Linux), Metal (macOS) or D3D12 (Windows) driver; on Linux install ' +
    '`libvulkan1` and the vendor ICD (NVIDIA: the driver\'s Vulkan ICD, plus `libglvnd0`); the npm packages ' +
    '`webgpu` and `@tensorflow/tfjs-backend-webgpu` are regular dependencies of @partialnet/core',
  'tfjs-node':
    '`pnpm add @tensorflow/tfjs-node` in packages/core; its install script downloads libtensorflow ' +
    '(needs network access; prebuilt for Linux x64, macOS and Windows x64)',
  wasm: '`@tensorflow/tfjs-backend-wasm` is a dependency of @partialnet/core: reinstall with `pnpm install`',
  cpu: '`@tensorflow/tfjs-backend-cpu` is a dependency of @partialnet/core: reinstall with `pnpm install`',
};

const require = createRequire(import.meta.url);

function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // tfjs-node's missing-addon message runs to a dozen lines of advice; the first says what happened.
  return text.split('\n')[0]!.trim();
}

function packageDir(pkg: string): string | undefined {
  try {
    return path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    return undefined;
  }
}

/** Version of an installed package, or undefined when it is not installed. */
export function packageVersion(pkg: string): string | undefined {
  try {
    return (require(`${pkg}/package.json`) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

// Specifiers held in variables keep TypeScript from resolving optional packages at compile time.
async function importOptional(specifier: string): Promise<Record<string, unknown>> {
  return (await import(specifier)) as Record<string, unknown>;
}

/** A named export of a module that may be ESM or CommonJS seen through `default`. */
function exported<T>(mod: Record<string, unknown>, name: string): T | undefined {
  if (name in mod) return mod[name] as T;
  const def = mod.default as Record<string, unknown> | undefined;
  return def && typeof def === 'object' && name in def ? (def[name] as T) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Probes. Each runs at most once per process: the result (or the error) is cached, so
// `listBackends()` and `setupBackend()` are cheap after the first call.

const probes = new Map<BackendName, Promise<BackendProbe>>();

function probe(name: BackendName): Promise<BackendProbe> {
  let p = probes.get(name);
  if (!p) {
    p = runProbe(name);
    probes.set(name, p);
  }
  return p;
}

async function runProbe(name: BackendName): Promise<BackendProbe> {
  const base: BackendProbe = { name, available: false, tfjsName: TFJS_NAMES[name] };
  const version = packageVersion(PACKAGES[name]);
  if (version) base.version = version;
  const fail = (reason: string): BackendProbe => ({ ...base, reason, install: INSTALL_HINTS[name] });
  try {
    switch (name) {
      case 'tfjs-node-gpu':
      case 'tfjs-node':
        return await probeTfjsNode(name, base, fail);
      case 'webgpu':
        return await probeWebgpu(base, fail);
      case 'wasm':
        return await probeWasm(base, fail);
      case 'cpu':
        await import('@tensorflow/tfjs-backend-cpu');
        if (process.env.PARTIALNET_STOCK_KERNELS !== '1') registerCpuGeluKernels();
        return { ...base, available: true };
    }
  } catch (err) {
    return fail(errorText(err));
  }
}

function findNativeAddon(dir: string): string | undefined {
  const lib = path.join(dir, 'lib');
  if (!existsSync(lib)) return undefined;
  for (const entry of readdirSync(lib)) {
    const file = path.join(lib, entry, 'tfjs_binding.node');
    if (existsSync(file)) return file;
  }
  return undefined;
}

/**
 * tfjs-node(-gpu) requires `@tensorflow/tfjs`, which requires its own `@tensorflow/tfjs-core`.
 * With pnpm and matching versions that is the very same package directory (one copy in the
 * store), and even a second copy would register into our engine: tfjs-core keeps its engine and
 * kernel registry on the global object (`_tfengine`, `kernelRegistry`). What breaks is a version
 * mismatch — kernels written for another tfjs-core — so we refuse that explicitly.
 */
async function probeTfjsNode(
  name: 'tfjs-node' | 'tfjs-node-gpu',
  base: BackendProbe,
  fail: (reason: string) => BackendProbe,
): Promise<BackendProbe> {
  const pkg = PACKAGES[name];
  const dir = packageDir(pkg);
  if (!dir) return fail(`${pkg} is not installed`);
  // Importing a package whose addon is missing would still load all of @tensorflow/tfjs (layers,
  // converter, data) before failing; look for the addon first.
  if (!findNativeAddon(dir)) {
    return fail(
      `${pkg} is installed but its native addon (lib/napi-v*/tfjs_binding.node) is missing: ` +
        'its install script could not download libtensorflow',
    );
  }
  const mod = await importOptional(pkg);
  const versions = exported<Record<string, string>>(mod, 'version');
  const theirCore = versions?.['tfjs-core'];
  if (theirCore && theirCore !== tf.version_core) {
    return fail(`${pkg} is built on tfjs-core ${theirCore}, we use ${tf.version_core}; install matching versions`);
  }
  if (!tf.findBackendFactory('tensorflow')) return fail(`${pkg} loaded but registered no 'tensorflow' backend`);
  // Both flavours register under the same name; whichever loaded first owns it.
  const other = name === 'tfjs-node' ? 'tfjs-node-gpu' : 'tfjs-node';
  const otherProbe = probes.get(other);
  if (otherProbe && (await otherProbe).available) {
    return fail(`${PACKAGES[other]} already registered the 'tensorflow' backend in this process`);
  }
  return { ...base, available: true };
}

interface DawnAdapter {
  info?: Partial<GpuAdapterInfo> & { isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
}
interface DawnGpu {
  requestAdapter(options?: { powerPreference?: string }): Promise<DawnAdapter | null>;
}

/**
 * `PARTIALNET_ALLOW_SOFTWARE_GPU=1` lets a forced `webgpu` run on a software adapter (Mesa's
 * lavapipe, SwiftShader): for tests and CI, which have no GPU. `auto` never picks one: on the
 * same machine wasm is faster.
 */
export function softwareGpuAllowed(): boolean {
  return process.env.PARTIALNET_ALLOW_SOFTWARE_GPU === '1';
}

/** What the adapter probe child reports on stdout (one JSON line). */
interface AdapterProbeResult {
  adapter: (GpuAdapterInfo & { fallback: boolean }) | null;
}

// Runs in a child process: Dawn and the Vulkan loader write their chatter (`vkCreateInstance:
// Found no drivers`, `maxDynamic... artificially reduced`, `XDG_RUNTIME_DIR is invalid`) straight
// to file descriptor 2, which Node cannot redirect inside one process. The child's stderr is
// captured and kept in the probe (`partialnet info` shows it) instead of reaching the user.
const ADAPTER_PROBE = `
const mod = await import(process.argv[1]);
const create = mod.create ?? mod.default?.create;
const gpu = create([]);
const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
const i = a?.info ?? {};
const adapter = a ? { vendor: i.vendor ?? '', architecture: i.architecture ?? '', device: i.device ?? '', description: i.description ?? '', fallback: Boolean(i.isFallbackAdapter ?? a.isFallbackAdapter) } : null;
process.stdout.write(JSON.stringify({ adapter }) + '\\n', () => process.exit(0));
`;

function runAdapterProbe(): Promise<{ result?: AdapterProbeResult; log: string[]; error?: string }> {
  let entry: string;
  try {
    entry = pathToFileURL(require.resolve('webgpu')).href;
  } catch {
    return Promise.resolve({ log: [], error: "the 'webgpu' package is not installed" });
  }
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', ADAPTER_PROBE, entry], { timeout: 60_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const log = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve({ result: JSON.parse(line) as AdapterProbeResult, log });
      } catch {
        resolve({ log, error: `the adapter probe failed${err ? `: ${errorText(err)}` : ''}${log.length ? ` (${log[log.length - 1]})` : ''}` });
      }
    });
  });
}

let webgpuGpu: DawnGpu | undefined;

async function probeWebgpu(base: BackendProbe, fail: (reason: string) => BackendProbe): Promise<BackendProbe> {
  const { result, log, error } = await runAdapterProbe();
  const withLog = (p: BackendProbe): BackendProbe => (log.length ? { ...p, driverLog: log } : p);
  if (!result) return withLog(fail(error ?? 'the adapter probe failed'));
  const adapter = result.adapter;
  if (!adapter) {
    return withLog(fail('Dawn found no WebGPU adapter (no Vulkan/Metal/D3D12 device: no GPU, or its driver/ICD is missing)'));
  }
  const { fallback, ...gpuAdapter } = adapter;
  if (isSoftwareAdapter(gpuAdapter, fallback)) {
    const label = Object.values(gpuAdapter).filter(Boolean).join(' / ');
    if (softwareGpuAllowed()) return withLog({ ...base, available: true, software: true, gpuAdapter });
    return withLog({
      ...fail(`only a software adapter was found (${label || 'fallback adapter'}); set PARTIALNET_ALLOW_SOFTWARE_GPU=1 to use it anyway`),
      software: true,
      gpuAdapter,
    });
  }
  return withLog({ ...base, available: true, gpuAdapter });
}

/** The Dawn GPU object of this process, created when webgpu is first activated. */
async function dawnGpu(): Promise<DawnGpu> {
  if (!webgpuGpu) {
    const dawn = await importOptional('webgpu');
    const create = exported<(options: string[]) => DawnGpu>(dawn, 'create');
    if (!create) throw new Error("the 'webgpu' package has no create()");
    webgpuGpu = create([]);
  }
  return webgpuGpu;
}

/**
 * Installs the Dawn GPU object as `navigator.gpu` and the WebGPU constants (`GPUBufferUsage`, ...)
 * as globals, which tfjs-backend-webgpu reads at import time and when it builds buffers.
 */
async function registerWebgpu(): Promise<void> {
  if (tf.findBackendFactory('webgpu')) return;
  const dawn = await importOptional('webgpu');
  const globals = exported<Record<string, unknown>>(dawn, 'globals');
  if (globals) {
    for (const [key, value] of Object.entries(globals)) {
      if (!(key in globalThis)) Object.defineProperty(globalThis, key, { value, configurable: true, writable: true });
    }
  }
  const gpu = await dawnGpu();
  const g = globalThis as unknown as { navigator?: Record<string, unknown> };
  if (g.navigator && typeof g.navigator === 'object') {
    // Node 21+ has a navigator of its own; add to it rather than replace it.
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  }
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!tf.findBackendFactory('webgpu')) throw new Error('tfjs-backend-webgpu did not register (navigator.gpu not seen)');
}

let wasmSimd = false;
let wasmGetThreadsCount: (() => number) | undefined;
/** Set by probeWasm when the threaded binary will load: activate then starts it through the shim. */
let wasmThreadedStart: ((start: () => Promise<void>) => Promise<void>) | undefined;

/**
 * The .wasm binaries are located relative to the backend's script by default, which bundlers and
 * some test runners break; pointing at the package's dist folder as a file path always works in
 * Node. With more than one thread requested (setThreads / PARTIALNET_THREADS, default every core)
 * the threaded SIMD binary loads through the shim in wasm-threads.ts; with one, the plain SIMD
 * binary (faster on one thread than the threaded one).
 */
async function probeWasm(base: BackendProbe, fail: (reason: string) => BackendProbe): Promise<BackendProbe> {
  if (typeof (globalThis as { WebAssembly?: unknown }).WebAssembly !== 'object') return fail('this JavaScript runtime has no WebAssembly');
  const dir = packageDir(PACKAGES.wasm);
  if (!dir) return fail(`${PACKAGES.wasm} is not installed`);
  const dist = path.join(dir, 'dist') + path.sep;
  // The package registers the WASM_* flags, so it must load before they are read.
  const mod = await importOptional(PACKAGES.wasm);
  wasmSimd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const binary = wasmSimd ? 'tfjs-backend-wasm-simd.wasm' : 'tfjs-backend-wasm.wasm';
  if (!existsSync(dist + binary)) return fail(`${dist + binary} is missing`);
  const setWasmPaths = exported<(prefix: string) => void>(mod, 'setWasmPaths');
  if (!tf.findBackendFactory('wasm') || !setWasmPaths) return fail(`${PACKAGES.wasm} registered no 'wasm' backend`);
  // our kernel pool takes every thread asked for; XNNPACK's is the binary's (WASM_MAX_THREADS)
  const threads = requestedThreads();
  const setThreadsCount = exported<(n: number) => void>(mod, 'setThreadsCount');
  const threaded =
    threads > 1 && wasmSimd && typeof SharedArrayBuffer === 'function' && !!setThreadsCount && existsSync(dist + 'tfjs-backend-wasm-threaded-simd.wasm');
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', threaded);
  setWasmPaths(dist);
  const xnnpack = threaded ? Math.min(xnnpackThreads(threads), WASM_MAX_THREADS) : 1;
  if (threaded) {
    setThreadsCount!(xnnpack);
    wasmThreadedStart = (start) => withThreadedWasm(dist, Math.min(threads, WASM_MAX_THREADS), start);
  }
  wasmGetThreadsCount = exported<() => number>(mod, 'getThreadsCount');
  setWasmPoolThreads(xnnpack);
  // our own SIMD kernels run on as many threads, through worker_threads on the shared memory
  // (PARTIALNET_KERNEL_POOL=0 keeps them on one thread: before/after measurements)
  configureKernelPool(threaded ? Math.min(threads, NODE_POOL_MAX_THREADS) : 1, process.env.PARTIALNET_KERNEL_POOL === '0' ? undefined : nodeKernelPool);
  enableRelaxedSimd();
  registerWasmKernelOverrides();
  // Before/after measurements: tfjs-backend-wasm's own SplitV / Concat / Slice and the composite GELU.
  if (process.env.PARTIALNET_STOCK_KERNELS === '1') restoreStockWasmKernels();
  return { ...base, available: true };
}

/**
 * XNNPACK's pool in the threaded binary: one thread unless PARTIALNET_XNNPACK_THREADS asks for more
 * (at most `threads`; the caller caps it at the binary's WASM_MAX_THREADS), or all of them when our
 * kernel pool is off (PARTIALNET_KERNEL_POOL=0). Our kernels now run every product, BatchNorm, loss and optimizer step; XNNPACK keeps pooling, strided
 * and depthwise convolutions and tfjs's binary elementwise kernels, small shares of a step. Its
 * workers spin for a while after each of its kernels, on the cores our pool's workers need next:
 * on two threads one XNNPACK thread made PartialNet-T0's training step ~13 % faster and inference
 * at batch 16 ~25 %, at batch 1 ~40 % (README, Threads).
 */
function xnnpackThreads(threads: number): number {
  const raw = process.env.PARTIALNET_XNNPACK_THREADS;
  if (raw === undefined || raw === '') return process.env.PARTIALNET_KERNEL_POOL === '0' ? threads : 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`PARTIALNET_XNNPACK_THREADS must be an integer >= 1, got ${JSON.stringify(raw)}`);
  return Math.min(n, threads);
}

/**
 * Our matrix kernels use relaxed SIMD's multiply-add where the runtime has it (relaxed-simd.ts).
 * Node 20's V8 (11.3) has it behind a flag that only affects what WebAssembly validates: set it
 * before our modules compile, unless PARTIALNET_RELAXED_SIMD=0, which keeps the plain kernels.
 */
function enableRelaxedSimd(): void {
  if (process.env.PARTIALNET_RELAXED_SIMD === '0') {
    allowRelaxedSimd(false);
    return;
  }
  if (relaxedSimdSupported()) return;
  try {
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // an embedder that forbids it: the plain kernels
  }
  recheckRelaxedSimd();
}

function wasmThreads(): number {
  try {
    return wasmGetThreadsCount?.() ?? 1;
  } catch {
    return 1;
  }
}

/** Probes every backend (cached after the first call; nothing is switched). */
export async function listBackends(): Promise<BackendProbe[]> {
  const result: BackendProbe[] = [];
  // Sequential on purpose: tfjs-node and tfjs-node-gpu must not race for the 'tensorflow' name.
  for (const name of BACKEND_NAMES) result.push(await probe(name));
  return result;
}

// ---------------------------------------------------------------------------------------------

let current: BackendReport | undefined;

/** The report of the last successful `setupBackend`, if any. */
export function currentBackend(): BackendReport | undefined {
  return current && tf.getBackend() === current.tfjsName ? current : undefined;
}

/**
 * tfjs-backend-webgpu serves a synchronous read of a GPU-resident tensor (`dataSync`, `arraySync`,
 * a kernel that reads its input on the host) through an OffscreenCanvas, which Node does not have:
 * it fails deep inside tfjs with "OffscreenCanvas is not defined". Replace that path by an error
 * that says what happened and where (the stack names the caller), so each one is found where it
 * is written. Reads of tensors whose values are already on the host still work.
 */
function refuseSyncGpuReads(): void {
  if (typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== 'undefined') return;
  const backend = tf.findBackend('webgpu') as unknown as { tensorMap: { get(id: object): { values?: unknown; dtype: string } | undefined } } | null;
  if (!backend) return;
  const proto = Object.getPrototypeOf(backend) as { readSync: (dataId: object) => unknown; __partialnetGuard?: boolean };
  if (proto.__partialnetGuard) return;
  const original = proto.readSync;
  proto.readSync = function (this: typeof backend, dataId: object) {
    const data = this!.tensorMap.get(dataId);
    if (data && data.values == null && data.dtype !== 'string' && data.dtype !== 'complex64') {
      // The innermost tidy / kernel scope names the op when a kernel is the reader.
      const scope = (tf.engine().state as unknown as { activeScope?: { name?: string } }).activeScope?.name;
      throw new Error(
        'synchronous read of a GPU tensor on the webgpu backend (dataSync/arraySync/bufferSync, or a kernel ' +
          `that reads its input on the host${scope ? `; tfjs scope '${scope}'` : ''}): not possible in Node; ` +
          'read with `await tensor.data()` or keep the work on the device',
      );
    }
    return original.call(this, dataId);
  };
  proto.__partialnetGuard = true;
}

async function activate(name: BackendName): Promise<void> {
  if (name === 'webgpu') await registerWebgpu();
  const tfjsName = TFJS_NAMES[name];
  let ok = false;
  const start = async (): Promise<void> => {
    ok = await tf.setBackend(tfjsName);
  };
  if (name === 'wasm' && wasmThreadedStart) await wasmThreadedStart(start);
  else await start();
  if (name === 'webgpu') refuseSyncGpuReads();
  // wasm (and others) can fail to start and leave another backend active without throwing.
  const actual = tf.getBackend();
  if (!ok || actual !== tfjsName) {
    throw new Error(`tf.setBackend('${tfjsName}') ${ok ? 'succeeded' : 'failed'} but the active backend is '${actual}'`);
  }
}

function defaultRequest(): BackendName | 'auto' {
  const env = process.env.PARTIALNET_BACKEND;
  return env ? parseBackendName(env) : 'auto';
}

/**
 * Selects the backend: `auto` takes the first that works of tfjs-node-gpu, webgpu (hardware
 * adapter only), tfjs-node, wasm, cpu; a forced name that does not work throws with the reason and
 * how to install it. Calling it again with the same request returns the cached report.
 */
export async function setupBackend(requested: BackendName | 'auto' = defaultRequest()): Promise<BackendReport> {
  if (current && current.requested === requested && tf.getBackend() === current.tfjsName) return current;
  const candidates = requested === 'auto' ? BACKEND_NAMES : [requested];
  const failures: string[] = [];
  // Probe everything before switching: importing tfjs-node calls tf.setBackend('tensorflow') itself.
  await listBackends();
  for (const name of candidates) {
    let p = await probe(name);
    if (requested === 'auto' && p.software) {
      failures.push(`${name}: only a software adapter (slower than wasm; force --backend webgpu to use it)`);
      continue;
    }
    if (p.available) {
      try {
        await activate(name);
      } catch (err) {
        p = { ...p, available: false, reason: `failed to start: ${errorText(err)}`, install: INSTALL_HINTS[name] };
        probes.set(name, Promise.resolve(p));
      }
    }
    if (!p.available) {
      failures.push(`${name}: ${p.reason}`);
      if (requested !== 'auto') {
        const why = (p.reason ?? 'unknown reason').replace(/\.$/, '');
        throw new Error(`backend '${name}' is not available: ${why}.\nTo use it: ${p.install ?? INSTALL_HINTS[name]}.`);
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
    if (name === 'wasm') report.wasm = { simd: wasmSimd, threads: Math.max(wasmThreads(), kernelPoolThreads()), xnnpackThreads: wasmThreads() };
    current = report;
    return report;
  }
  throw new Error(`no TensorFlow.js backend could start:\n  ${failures.join('\n  ')}`);
}
