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
  return (await timeAlternating([fn], warmup, iters))[0]!;
}

/**
 * Times several functions in turns (f0, f1, ..., f0, f1, ...), each `warmup` untimed then `iters`
 * timed runs, and returns each one's median wall and process CPU milliseconds: alternating puts a
 * change in the machine's speed on all of them alike, so their ratio holds where absolute times drift.
 */
export async function timeAlternating(fns: readonly (() => Promise<void>)[], warmup: number, iters: number): Promise<{ ms: number; cpuMs: number }[]> {
  for (let i = 0; i < warmup; i++) for (const fn of fns) await fn();
  const wall = fns.map(() => [] as number[]);
  const cpu = fns.map(() => [] as number[]);
  for (let i = 0; i < iters; i++) {
    for (const [k, fn] of fns.entries()) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await fn();
      wall[k]!.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu[k]!.push((c.user + c.system) / 1000);
    }
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return fns.map((_, k) => ({ ms: median(wall[k]!), cpuMs: median(cpu[k]!) }));
}
