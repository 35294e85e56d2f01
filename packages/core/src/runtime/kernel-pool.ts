import type { WasmMemory } from './webassembly.js';

/**
 * Runs our own WebAssembly SIMD kernels (simd-kernels.ts, winograd-kernels.ts,
 * matmul-tn-kernels.ts) on several threads when the tfjs-backend-wasm memory is shared (its
 * threaded build): XNNPACK's pool only serves XNNPACK's kernels, so without this they run on one
 * thread whatever --threads says.
 *
 * This file is platform-neutral: the Node implementation (kernel-pool-node.ts, worker_threads)
 * is installed by backend.ts, so worker_threads never reaches a browser bundle; in a page, or
 * with one thread, or on a memory that is not shared, `kernelPool` answers undefined and callers
 * take their serial path unchanged.
 */
export interface KernelPool {
  /** Threads that run shares: this one plus the workers. */
  readonly threads: number;
  /** Calls run on the workers so far (tests and benchmarks check the parallel path was taken). */
  readonly tasks: number;
  /**
   * Runs export `name` of the module `binary` (instantiated on the pool's memory) once per entry of
   * `shares` (at most `threads`; integer or float arguments): shares[0] through `local` on this
   * thread, the others on workers, and returns when all are done. The shares must write disjoint
   * bytes. An error on any thread is thrown here after every share has finished.
   */
  run(binary: Uint8Array, name: string, shares: readonly (readonly number[])[], local: (...args: number[]) => void): void;
  /** Stops the workers; later `run` calls throw. */
  close(): void;
}

export type KernelPoolFactory = (memory: WasmMemory, threads: number) => KernelPool | undefined;

let factory: KernelPoolFactory | undefined;
let poolThreads = 1;
let pools = new WeakMap<WasmMemory, KernelPool | null>();
const started = new Set<KernelPool>();

/** Installs the platform's pool (backend.ts under Node) and the thread count the wasm backend started with. */
export function configureKernelPool(threads: number, make: KernelPoolFactory | undefined): void {
  poolThreads = Math.max(1, Math.floor(threads));
  // pools (or their absence) made by another factory are not this one's
  if (make !== factory) closeKernelPools();
  factory = make;
}

/** Threads our kernels can run on for a shared memory: the wasm pool size where a pool can start, else 1. */
export function kernelPoolThreads(): number {
  return factory ? poolThreads : 1;
}

/** The pool for `memory` (started on first use), or undefined where kernels run serially. */
export function kernelPool(memory: WasmMemory): KernelPool | undefined {
  if (!factory || poolThreads < 2 || typeof SharedArrayBuffer !== 'function' || !(memory.buffer instanceof SharedArrayBuffer)) return undefined;
  let pool = pools.get(memory);
  if (pool === undefined) {
    pool = factory(memory, poolThreads) ?? null;
    pools.set(memory, pool);
    if (pool) started.add(pool);
  }
  return pool ?? undefined;
}

/**
 * Stops every pool's workers (tests, or before disposing of the wasm backend); the next kernel call
 * on a shared memory starts a new pool. Idle workers never keep the process alive, so a program
 * need not call this before it exits.
 */
export function closeKernelPools(): void {
  for (const pool of started) pool.close();
  started.clear();
  pools = new WeakMap();
}

/**
 * [start, end) ranges of `units` split into at most `threads` near-equal parts (parts of whole
 * units; empty parts left out).
 */
export function splitRange(units: number, threads: number): [number, number][] {
  const parts = Math.max(1, Math.min(threads, units));
  const out: [number, number][] = [];
  for (let p = 0; p < parts; p++) {
    const start = Math.floor((units * p) / parts);
    const end = Math.floor((units * (p + 1)) / parts);
    if (end > start) out.push([start, end]);
  }
  return out;
}
