/**
 * The threaded build of tfjs-backend-wasm under Node.
 *
 * Why it runs one thread out of the box (tfjs-backend-wasm 4.22, read from its source and glue):
 * 1. tfjs sets WASM_HAS_MULTITHREAD_SUPPORT to false under Node, so the non-threaded binary loads.
 * 2. Forced on, its Emscripten glue starts the pthread workers from a blob: URL (the worker script)
 *    and hands them the main script as a Blob; Node's Worker accepts neither.
 * 3. Once running, backend.cc caps XNNPACK's pool at emscripten_num_logical_cores() / 2 (it
 *    assumes two hyperthreads per core) and at 8, the PTHREAD_POOL_SIZE the binary was built with.
 *    On 2 logical CPUs that is 1 thread whatever setThreadsCount says.
 * The shim below answers 2 (workers built from the blob's text and the main script's text, with the
 * few module-scope names of the Node bundle that the main script refers to), and 3 by reporting
 * twice the requested count as the number of logical cores while the module initialises. What
 * stays: at most 8 threads, and only XNNPACK kernels (convolutions, matmul, pooling, some
 * elementwise ops) use them; tfjs's own wasm kernels stay single-threaded. Our kernels run on
 * their own pool over the same shared memory (kernel-pool-node.ts), which is not bound by the 8,
 * and XNNPACK gets one thread by default (backend.ts, xnnpackThreads).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker as NodeWorker } from 'node:worker_threads';
import { resolveObjectURL } from 'node:buffer';

const MAIN_SCRIPT = 'partialnet:wasm-main-script';

/**
 * The Node bundle's module-scope `var require$$N = require('x')` bindings, which the threaded
 * factory's source (sent to the workers as text) refers to.
 */
function bundleRequires(dist: string): Record<string, string> {
  const text = readFileSync(path.join(dist, 'tf-backend-wasm.node.js'), 'utf8').slice(0, 20000);
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/var (require\$\$\d+) = require\('([^']+)'\);/g)) out[m[1]!] = m[2]!;
  return out;
}

function bootstrap(dist: string): string {
  const requires = Object.entries(bundleRequires(dist))
    .map(([name, mod]) => `${JSON.stringify(name)}: require(${JSON.stringify(mod)})`)
    .join(', ');
  // The first message carries the worker script and the main script; the worker script installs
  // its own message handler, and importScripts of MAIN_SCRIPT evaluates the main script.
  return `
const { parentPort } = require('worker_threads');
Object.assign(globalThis, { require, __filename, __dirname: ${JSON.stringify(dist)}, commonjsGlobal: globalThis, ${requires} });
parentPort.once('message', (m) => {
  (0, eval)(m.workerScript);
  const importScripts = globalThis.importScripts;
  globalThis.importScripts = (f) => (f === ${JSON.stringify(MAIN_SCRIPT)} ? (0, eval)(m.mainScript) : importScripts(f));
});`;
}

/** This process's execArgv without --input-type, which would make an eval'd worker an ES module. */
export function scriptExecArgv(): string[] {
  const out: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--input-type') i++;
    else if (!args[i]!.startsWith('--input-type=')) out.push(args[i]!);
  }
  return out;
}

function shimWorkerClass(dist: string): typeof NodeWorker {
  const boot = bootstrap(dist);
  return class BlobUrlWorker extends NodeWorker {
    private readonly workerScript: Promise<string>;
    private chain: Promise<void> | null = null;
    private pending = 0;
    private settled = false;

    constructor(url: string | URL) {
      // the bootstrap is a CommonJS script: drop an inherited --input-type=module
      super(boot, { eval: true, execArgv: scriptExecArgv() });
      const blob = resolveObjectURL(String(url));
      if (!blob) throw new Error(`wasm threads: ${String(url)} is not a blob: URL of this process`);
      this.workerScript = blob.text();
      // idle pool threads must not keep the process alive
      this.unref();
    }

    override ref(): void {}

    override postMessage(msg: unknown, transfer?: readonly import('node:worker_threads').TransferListItem[]): void {
      const post = (m: unknown, t?: readonly import('node:worker_threads').TransferListItem[]): void => super.postMessage(m, t);
      // Once the scripts are out, post synchronously: the main thread may then block inside wasm
      // (pthread_create) waiting for this very message, and a queued one would never go.
      if (this.settled) return post(msg, transfer);
      let main: Promise<string | null> = Promise.resolve(null);
      const m = msg as { cmd?: string; urlOrBlob?: unknown } | null;
      if (m && m.cmd === 'load' && m.urlOrBlob instanceof Blob) {
        main = m.urlOrBlob.text();
        msg = { ...m, urlOrBlob: MAIN_SCRIPT };
      }
      this.pending++;
      this.chain ??= Promise.all([this.workerScript, main]).then(([workerScript, mainScript]) => post({ workerScript, mainScript }));
      this.chain = this.chain.then(() => {
        post(msg, transfer);
        if (--this.pending === 0) this.settled = true;
      });
    }
  };
}

/**
 * Runs `start` (which initialises the threaded wasm module) with the Worker shim installed and
 * the logical core count reported as 2 * threads, then restores both.
 */
export async function withThreadedWasm<T>(dist: string, threads: number, start: () => Promise<T>): Promise<T> {
  const g = globalThis as { Worker?: unknown };
  const workerDesc = Object.getOwnPropertyDescriptor(g, 'Worker');
  const shim = shimWorkerClass(dist);
  // the glue assigns the global Worker itself: keep ours in place while it initialises
  Object.defineProperty(g, 'Worker', { configurable: true, get: () => shim, set: () => {} });
  const cpus = os.cpus;
  const one = cpus()[0]!;
  os.cpus = () => Array.from({ length: 2 * threads }, () => one);
  try {
    return await start();
  } finally {
    os.cpus = cpus;
    if (workerDesc) Object.defineProperty(g, 'Worker', workerDesc);
    else delete g.Worker;
  }
}
