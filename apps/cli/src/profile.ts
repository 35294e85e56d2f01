import { tf } from '@partialnet/core';

export interface OpTime {
  op: string;
  ms: number;
  calls: number;
  /** Fraction of the summed kernel time. */
  share: number;
}

/**
 * Runs `fn` once under tf.profile and sums kernel time by op name, largest first. Kernel times
 * are the backend's own (wall time around each kernel on wasm and cpu); the gaps between kernels
 * (JavaScript, allocation) are what wallMs - kernelMs leaves.
 */
export async function profileOps(fn: () => Promise<void>, top = 15): Promise<{ wallMs: number; kernelMs: number; kernels: number; ops: OpTime[] }> {
  const t0 = performance.now();
  const info = await tf.profile(fn);
  const wallMs = performance.now() - t0;
  const byOp = new Map<string, { ms: number; calls: number }>();
  let kernelMs = 0;
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const e = byOp.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += ms;
    e.calls++;
    byOp.set(k.name, e);
    kernelMs += ms;
  }
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  const ops = [...byOp]
    .map(([op, e]) => ({ op, ms: r2(e.ms), calls: e.calls, share: r2(kernelMs > 0 ? e.ms / kernelMs : 0) }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, top);
  return { wallMs: r2(wallMs), kernelMs: r2(kernelMs), kernels: info.kernels.length, ops };
}
