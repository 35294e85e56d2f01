// The thread count the CPU backends are asked for (`--threads`, PARTIALNET_THREADS, setThreads).
// Platform-neutral: backend.ts (Node, where wasm-threads.ts starts the threaded wasm binary with it)
// and backend.browser.ts both export it, so core's API is the same in a page.
import { availableParallelism } from '#platform';

/** XNNPACK's pool in the prebuilt binary: PTHREAD_POOL_SIZE and backend.cc's max_num_threads. */
export const WASM_MAX_THREADS = 8;

let requested: number | undefined;

/** Cores this process may use. */
export function availableCores(): number {
  return availableParallelism();
}

/**
 * Parses a `--threads` / `PARTIALNET_THREADS` value: a positive integer, or `all` / `auto`.
 * `where` names the source in the error.
 */
export function parseThreads(value: string, where: string): number {
  const v = value.trim().toLowerCase();
  if (v === 'all' || v === 'auto') return availableCores();
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${where}: expected a positive integer or 'all', got '${value}'`);
  return n;
}

/**
 * Sets how many threads the CPU backends use (default: PARTIALNET_THREADS, else every core). Takes
 * effect when the wasm backend first starts, so call it before setupBackend.
 */
export function setThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`threads: expected a positive integer, got ${n}`);
  requested = n;
}

/** The thread count asked for: setThreads, else PARTIALNET_THREADS, else every core. */
export function requestedThreads(): number {
  if (requested !== undefined) return requested;
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.PARTIALNET_THREADS;
  return env ? parseThreads(env, 'PARTIALNET_THREADS') : availableCores();
}
