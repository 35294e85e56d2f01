/** Runs `fn` `warmup` times, then `iters` times, and returns the median milliseconds per run. */
export async function timeIt(fn: () => Promise<void>, warmup: number, iters: number): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** Two decimals, for benchmark output. */
export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
