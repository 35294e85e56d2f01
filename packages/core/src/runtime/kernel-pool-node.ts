/**
 * The kernel pool (kernel-pool.ts) under Node: `threads - 1` worker_threads that each instantiate
 * our kernel modules on the shared tfjs-backend-wasm memory and wait on a SharedArrayBuffer
 * control block. A call writes each worker's arguments, bumps a generation counter and wakes
 * them, runs its own share, then waits until every worker has counted itself done: no messages
 * and no event loop on the hot path (kernels are called synchronously from tfjs, one at a time).
 * Modules reach the workers through a MessagePort that they drain synchronously
 * (receiveMessageOnPort) when told to. Workers are unref'd: they never keep the process alive.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { KernelPool, KernelPoolFactory } from './kernel-pool.js';
import type { WasmMemory } from './webassembly.js';
import { scriptExecArgv } from './wasm-threads.js';

// Int32 slots of the control block
const GEN = 0;
const DONE = 1;
const FN = 2;
const ERR = 3;
const STOP = 4;
const READY = 5;
const ERR_LEN = 6;
/** ARGC + w: the argument count of worker w's share, -1 for none. */
const ARGC = 8;
const MAX_WORKERS = 16;
/** Threads a Node kernel pool runs on at most: its workers and the calling thread. */
export const NODE_POOL_MAX_THREADS = MAX_WORKERS + 1;
const MAX_ARGS = 64;
const ARGS_OFFSET = 4 * (ARGC + MAX_WORKERS);
const ERR_OFFSET = ARGS_OFFSET + 8 * MAX_ARGS * MAX_WORKERS;
const ERR_BYTES = 2048;
/** Loads of the done counter before the caller sleeps on it (~10-20 us). */
const SPIN_LOADS = 20_000;
/** FN value that tells workers to drain their port for new modules. */
const LOAD = -1;

/** Seconds to wait for workers to start, and for a share to finish, before giving up on the pool. */
const START_TIMEOUT_MS = 20_000;
const SHARE_TIMEOUT_MS = 300_000;

const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require('worker_threads');
const { memory, control, index, port } = workerData;
const ctl = new Int32Array(control, 0, ${ARGC + MAX_WORKERS});
const args = new Float64Array(control, ${ARGS_OFFSET} + index * ${8 * MAX_ARGS}, ${MAX_ARGS});
const errBytes = new Uint8Array(control, ${ERR_OFFSET}, ${ERR_BYTES});
const fns = [];
let gen = 0;
Atomics.add(ctl, ${READY}, 1);
Atomics.notify(ctl, ${READY});
for (;;) {
  Atomics.wait(ctl, ${GEN}, gen);
  gen = Atomics.load(ctl, ${GEN});
  if (Atomics.load(ctl, ${STOP})) break;
  try {
    const fn = Atomics.load(ctl, ${FN});
    if (fn === ${LOAD}) {
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
        const instance = new WebAssembly.Instance(m.message.module, { env: { memory } });
        for (const name of m.message.names) fns.push(instance.exports[name]);
      }
    } else {
      const argc = Atomics.load(ctl, ${ARGC} + index);
      if (argc >= 0) fns[fn](...args.subarray(0, argc));
    }
  } catch (e) {
    if (Atomics.compareExchange(ctl, ${ERR}, 0, 1) === 0) {
      const text = new TextEncoder().encode('worker ' + (index + 1) + ': ' + String((e && e.stack) || e)).slice(0, ${ERR_BYTES});
      errBytes.set(text);
      Atomics.store(ctl, ${ERR_LEN}, text.length);
    }
  }
  Atomics.add(ctl, ${DONE}, 1);
  Atomics.notify(ctl, ${DONE});
}
`;

interface WasmModuleApi {
  Module: { new (bytes: Uint8Array): object; exports(module: object): { name: string; kind: string }[] };
}

class NodeKernelPool implements KernelPool {
  readonly threads: number;
  private readonly ctl: Int32Array;
  private readonly args: Float64Array[];
  private readonly errBytes: Uint8Array;
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  /** Function index of each export, by module binary. */
  private readonly modules = new Map<Uint8Array, Map<string, number>>();
  private functions = 0;
  tasks = 0;
  private busy = false;
  private broken: string | undefined;

  constructor(memory: WasmMemory, threads: number) {
    const workers = Math.min(threads, MAX_WORKERS + 1) - 1;
    this.threads = workers + 1;
    const control = new SharedArrayBuffer(ERR_OFFSET + ERR_BYTES);
    this.ctl = new Int32Array(control, 0, ARGC + MAX_WORKERS);
    this.args = Array.from({ length: workers }, (_, w) => new Float64Array(control, ARGS_OFFSET + w * 8 * MAX_ARGS, MAX_ARGS));
    this.errBytes = new Uint8Array(control, ERR_OFFSET, ERR_BYTES);
    for (let index = 0; index < workers; index++) {
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        execArgv: scriptExecArgv(),
        workerData: { memory, control, index, port: port2 },
        transferList: [port2],
      });
      worker.unref();
      port1.unref();
      this.workers.push(worker);
      this.ports.push(port1);
    }
  }

  /** Blocks until every worker is in its loop; false if they did not start in time. */
  waitReady(): boolean {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (let ready = Atomics.load(this.ctl, READY); ready < this.workers.length; ready = Atomics.load(this.ctl, READY)) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      Atomics.wait(this.ctl, READY, ready, left);
    }
    return true;
  }

  close(): void {
    Atomics.store(this.ctl, STOP, 1);
    Atomics.add(this.ctl, GEN, 1);
    Atomics.notify(this.ctl, GEN);
    for (const w of this.workers) void w.terminate();
    for (const p of this.ports) p.close();
    this.broken ??= 'the kernel pool was closed';
  }

  run(binary: Uint8Array, name: string, shares: readonly (readonly number[])[], local: (...args: number[]) => void): void {
    if (this.broken) throw new Error(`kernel pool: ${this.broken}`);
    if (this.busy) throw new Error('kernel pool: a task is already running (kernels must not be nested)');
    if (shares.length === 0 || shares.length > this.threads) throw new Error(`kernel pool: ${shares.length} shares for ${this.threads} threads`);
    const fn = this.functionIndex(binary, name);
    this.busy = true;
    try {
      for (let w = 0; w < this.workers.length; w++) {
        const share = shares[w + 1];
        if (share && share.length > MAX_ARGS) throw new Error(`kernel pool: ${share.length} arguments, at most ${MAX_ARGS}`);
        if (share) this.args[w]!.set(share);
        Atomics.store(this.ctl, ARGC + w, share ? share.length : -1);
      }
      let error: unknown;
      this.dispatch(fn);
      this.tasks++;
      try {
        local(...shares[0]!);
      } catch (e) {
        error = e;
      }
      this.waitDone(name);
      const workerError = this.takeError();
      if (error !== undefined) throw error;
      if (workerError) throw new Error(`kernel pool: ${name} failed on a worker thread: ${workerError}`);
    } finally {
      this.busy = false;
    }
  }

  private dispatch(fn: number): void {
    Atomics.store(this.ctl, FN, fn);
    Atomics.store(this.ctl, DONE, 0);
    Atomics.add(this.ctl, GEN, 1);
    Atomics.notify(this.ctl, GEN);
  }

  private waitDone(what: string): void {
    // the shares are about equal, so the workers finish close to this thread: a short spin saves a
    // futex wake-up (tens of microseconds on a VM) on most calls
    for (let spin = 0; spin < SPIN_LOADS && Atomics.load(this.ctl, DONE) < this.workers.length; spin++);
    const deadline = Date.now() + SHARE_TIMEOUT_MS;
    for (let done = Atomics.load(this.ctl, DONE); done < this.workers.length; done = Atomics.load(this.ctl, DONE)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        // a worker that died or hangs: never hand it memory again
        this.broken = `a worker did not finish ${what} within ${SHARE_TIMEOUT_MS / 1000} s`;
        this.close();
        throw new Error(`kernel pool: ${this.broken}`);
      }
      Atomics.wait(this.ctl, DONE, done, left);
    }
  }

  private takeError(): string | undefined {
    if (Atomics.load(this.ctl, ERR) === 0) return undefined;
    const text = new TextDecoder().decode(this.errBytes.slice(0, Atomics.load(this.ctl, ERR_LEN)));
    Atomics.store(this.ctl, ERR_LEN, 0);
    Atomics.store(this.ctl, ERR, 0);
    return text;
  }

  /** The workers' index of `name` in `binary`, loading the module into them on first use. */
  private functionIndex(binary: Uint8Array, name: string): number {
    let names = this.modules.get(binary);
    if (!names) {
      const api = (globalThis as unknown as { WebAssembly: WasmModuleApi }).WebAssembly;
      const module = new api.Module(binary);
      const exported = api.Module.exports(module).filter((e) => e.kind === 'function').map((e) => e.name);
      for (const port of this.ports) port.postMessage({ module, names: exported });
      names = new Map(exported.map((n, i) => [n, this.functions + i]));
      this.dispatch(LOAD);
      this.waitDone('loading a kernel module');
      const error = this.takeError();
      if (error) {
        this.broken = `a worker could not instantiate a kernel module: ${error}`;
        throw new Error(`kernel pool: ${this.broken}`);
      }
      this.functions += exported.length;
      this.modules.set(binary, names);
    }
    const index = names.get(name);
    if (index === undefined) throw new Error(`kernel pool: the module has no export '${name}'`);
    return index;
  }
}

/** The Node pool: undefined (callers run serially) when its workers fail to start. */
export const nodeKernelPool: KernelPoolFactory = (memory, threads) => {
  if (threads < 2) return undefined;
  let pool: NodeKernelPool | undefined;
  try {
    pool = new NodeKernelPool(memory, threads);
    if (!pool.waitReady()) throw new Error('workers did not start');
  } catch {
    pool?.close();
    return undefined;
  }
  return pool;
};
