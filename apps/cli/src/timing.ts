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

/**
 * Like `timeIt`, also returning the process CPU time per run (all threads, median): on a machine
 * shared with other work, CPU time of a one-thread run moves much less than wall time.
 */
export async function timeItWithCpu(fn: () => Promise<void>, warmup: number, iters: number): Promise<{ ms: number; cpuMs: number }> {
  for (let i = 0; i < warmup; i++) await fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < iters; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { ms: median(wall), cpuMs: median(cpu) };
}
