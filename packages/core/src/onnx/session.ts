// Node's file system and module lookup through #platform: in a browser, loading onnxruntime-node
// fails with a clear error, and the rest of core bundles.
import { availableParallelism, createRequire, dirname, join, readFile, readdirSync } from '#platform';
import { inspectOnnx, type OnnxModelInfo } from './model.js';

/** The part of onnxruntime-node's API used here (typed locally: the package is optional). */
interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
}
interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  env: { versions?: { node?: string } };
  listSupportedBackends?: () => { name: string; bundled: boolean }[];
}

let ortPromise: Promise<OrtModule> | undefined;

/** onnxruntime-node, or a clear error saying how to install it. */
export async function loadOnnxRuntime(): Promise<OrtModule> {
  ortPromise ??= (async () => {
    try {
      const name = 'onnxruntime-node';
      const mod = (await import(name)) as OrtModule & { default?: OrtModule };
      return mod.InferenceSession ? mod : mod.default!;
    } catch (e) {
      ortPromise = undefined;
      throw new Error(`ONNX Runtime is not available: the optional dependency 'onnxruntime-node' did not load (${(e as Error).message.split('\n')[0]}). Install it with 'pnpm add onnxruntime-node' (its CPU binaries ship in the npm package).`);
    }
  })();
  return ortPromise;
}

/**
 * Whether onnxruntime-node's CUDA provider library is installed beside its binding (its install
 * script fetches it; where that did not run, probing CUDA only logs a load error).
 */
function cudaProviderInstalled(): boolean {
  try {
    const root = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..', 'bin');
    const stack = [root];
    while (stack.length) {
      const dir = stack.pop()!;
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) stack.push(join(dir, entry.name));
        else if (entry.name.startsWith('libonnxruntime_providers_cuda')) return true;
      }
    }
    return false;
  } catch {
    return false;
  }
}

/** Whether onnxruntime-node loads here (for tests and `info`). */
export async function onnxRuntimeAvailable(): Promise<boolean> {
  try {
    await loadOnnxRuntime();
    return true;
  } catch {
    return false;
  }
}

export type OnnxProvider = 'auto' | 'cpu' | 'cuda';

export interface OnnxSessionOptions {
  /** Intra-op threads; default: the number of cores. */
  threads?: number;
  /**
   * 'auto' (default) uses CUDA where onnxruntime-node's CUDA provider is installed and loads, else
   * the CPU; 'cuda' fails when CUDA does not load.
   */
  provider?: OnnxProvider;
}

/** A float32 tensor on the host, NCHW for images. */
export interface OnnxTensor {
  data: Float32Array;
  dims: number[];
}

/** An ONNX Runtime session over one model file. */
export class OnnxSession {
  private constructor(
    readonly file: string,
    readonly info: OnnxModelInfo,
    readonly provider: 'cpu' | 'cuda',
    readonly threads: number,
    readonly version: string,
    private readonly ort: OrtModule,
    private readonly session: OrtSession,
  ) {}

  static async open(file: string, options: OnnxSessionOptions = {}): Promise<OnnxSession> {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (e) {
      throw new Error(`${file}: cannot read the ONNX model (${(e as Error).message})`);
    }
    return OnnxSession.fromBytes(bytes, file, options);
  }

  static async fromBytes(bytes: Uint8Array, file: string, options: OnnxSessionOptions = {}): Promise<OnnxSession> {
    const info = inspectOnnx(bytes, file);
    const ort = await loadOnnxRuntime();
    const threads = options.threads ?? availableParallelism();
    if (!(Number.isInteger(threads) && threads >= 1)) throw new Error(`ONNX session: threads must be a positive integer, got ${threads}`);
    const base = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' };
    const provider = options.provider ?? 'auto';
    const create = async (p: 'cpu' | 'cuda') => {
      try {
        return await ort.InferenceSession.create(bytes, { ...base, executionProviders: [p] });
      } catch (e) {
        throw new Error(`${file}: ONNX Runtime (${p}) refused the model: ${(e as Error).message}`);
      }
    };
    const version = ort.env.versions?.node ?? 'unknown';
    if (provider === 'cuda' || (provider === 'auto' && cudaProviderInstalled())) {
      try {
        return new OnnxSession(file, info, 'cuda', threads, version, ort, await create('cuda'));
      } catch (e) {
        if (provider === 'cuda') throw e;
      }
    }
    return new OnnxSession(file, info, 'cpu', threads, version, ort, await create('cpu'));
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Runs the model; every output comes back as float32 on the host. */
  async run(feeds: Record<string, OnnxTensor>): Promise<Record<string, OnnxTensor>> {
    const inputs: Record<string, OrtTensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new this.ort.Tensor('float32', t.data, t.dims);
    const out = await this.session.run(inputs);
    const result: Record<string, OnnxTensor> = {};
    for (const [name, t] of Object.entries(out)) {
      if (!(t.data instanceof Float32Array)) throw new Error(`${this.file}: output '${name}' is ${t.type}, expected float32`);
      result[name] = { data: t.data, dims: [...t.dims] };
    }
    return result;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
