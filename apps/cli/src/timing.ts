import type { NumberOption } from './options.js';

/**
 * How long to measure: `warmup` untimed runs, and untimed runs until `warmupSeconds` have passed;
 * then `iters` timed runs, and timed runs until `minSeconds` of them have passed. The seconds are
 * there because V8 keeps compiling hot JavaScript on background threads for the first seconds of a
 * workload: on a 2-core machine that takes a core from a 2-thread run, and a T0 training step came
 * out 20-30 % slower over its first five steps than from the tenth on. The minimum timed seconds
 * make the median of a millisecond workload one of many runs, not of five.
 */
export interface Schedule {
  warmup: number;
  iters: number;
  warmupSeconds?: number;
  minSeconds?: number;
}

/** The options every CPU benchmark takes for its schedule, beside its own --warmup and --iters. */
export const SCHEDULE_OPTIONS = {
  'warmup-seconds': { type: 'number', arg: 'S', default: 5, min: 0, help: 'untimed runs go on until S seconds have passed (V8 compiles in the background at first)' } as const satisfies NumberOption,
  'min-seconds': { type: 'number', arg: 'S', default: 2, min: 0, help: 'timed runs go on until S seconds have passed (at least --iters runs)' } as const satisfies NumberOption,
};

/** Runs `fn` per `schedule` and returns the median milliseconds per run. */
export async function timeIt(fn: () => Promise<void>, schedule: Schedule): Promise<number> {
  return (await timeAlternating([fn], schedule))[0]!.ms;
}

/** Two decimals, for benchmark output. */
export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/**
 * Like `timeIt`, also returning the process CPU time per run (all threads, median): on a machine
 * shared with other work, CPU time of a one-thread run moves much less than wall time.
 */
export async function timeItWithCpu(fn: () => Promise<void>, schedule: Schedule): Promise<{ ms: number; cpuMs: number; runs: number }> {
  return (await timeAlternating([fn], schedule))[0]!;
}

/**
 * Times several functions in turns (f0, f1, ..., f0, f1, ...), per `schedule` (a round of turns
 * counts as one run), and returns each one's median wall and process CPU milliseconds and its
 * number of timed runs: alternating puts a change in the machine's speed on all of them alike, so
 * their ratio holds where absolute times drift.
 */
export async function timeAlternating(fns: readonly (() => Promise<void>)[], schedule: Schedule): Promise<{ ms: number; cpuMs: number; runs: number }[]> {
  const warmupMs = 1000 * (schedule.warmupSeconds ?? 0);
  const minMs = 1000 * (schedule.minSeconds ?? 0);
  const warmupStart = performance.now();
  for (let i = 0; i < schedule.warmup || performance.now() - warmupStart < warmupMs; i++) for (const fn of fns) await fn();
  const wall = fns.map(() => [] as number[]);
  const cpu = fns.map(() => [] as number[]);
  const start = performance.now();
  for (let i = 0; i < schedule.iters || performance.now() - start < minMs; i++) {
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
  return fns.map((_, k) => ({ ms: median(wall[k]!), cpuMs: median(cpu[k]!), runs: wall[k]!.length }));
}
