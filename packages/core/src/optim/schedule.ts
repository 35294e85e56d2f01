/**
 * Learning-rate schedules as pure functions of the iteration (or epoch: the unit is the caller's),
 * in the mmcv/mmdetection style: a regular policy (constant, step, cosine or poly) with an optional
 * linear warmup applied on top of it.
 */

export interface LinearWarmup {
  /** Iterations of warmup; iteration `iters` and later are not affected. */
  iters: number;
  /** The factor at iteration 0; it rises linearly to 1 at `iters`. */
  ratio: number;
}

export type LrPolicy =
  | { type: 'constant' }
  /** lr * gamma^(number of milestones <= iter). */
  | { type: 'step'; milestones: number[]; gamma?: number }
  /** Half-cosine from lr at 0 to minLr at maxIters (and minLr after). */
  | { type: 'cosine'; maxIters: number; minLr?: number }
  /** mmcv's 'poly': (lr - minLr) * (1 - iter / maxIters)^power + minLr (mmseg's recipes: power 0.9, minLr 0). */
  | { type: 'poly'; maxIters: number; power?: number; minLr?: number };

export interface LrScheduleConfig {
  lr: number;
  policy?: LrPolicy;
  warmup?: LinearWarmup;
}

function regularLr(cfg: LrScheduleConfig, iter: number): number {
  const policy = cfg.policy ?? { type: 'constant' };
  switch (policy.type) {
    case 'constant':
      return cfg.lr;
    case 'step': {
      const passed = policy.milestones.filter((m) => iter >= m).length;
      return cfg.lr * (policy.gamma ?? 0.1) ** passed;
    }
    case 'cosine': {
      const minLr = policy.minLr ?? 0;
      const progress = Math.min(Math.max(iter / policy.maxIters, 0), 1);
      return minLr + ((cfg.lr - minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
    }
    case 'poly': {
      const minLr = policy.minLr ?? 0;
      const progress = Math.min(Math.max(iter / policy.maxIters, 0), 1);
      return (cfg.lr - minLr) * (1 - progress) ** (policy.power ?? 0.9) + minLr;
    }
  }
}

/** The learning rate at `iter` (0-based). */
export function lrAt(cfg: LrScheduleConfig, iter: number): number {
  const lr = regularLr(cfg, iter);
  const w = cfg.warmup;
  if (!w || w.iters <= 0 || iter >= w.iters) return lr;
  // mmcv's 'linear' warmup: factor 1 - (1 - iter/iters) * (1 - ratio).
  return lr * (1 - (1 - iter / w.iters) * (1 - w.ratio));
}

function check(cfg: LrScheduleConfig): void {
  if (!(cfg.lr >= 0)) throw new Error(`lr schedule: lr must be >= 0, got ${cfg.lr}`);
  const w = cfg.warmup;
  if (w && (!(w.iters >= 0) || !(w.ratio >= 0 && w.ratio <= 1))) {
    throw new Error(`lr schedule: warmup needs iters >= 0 and 0 <= ratio <= 1, got ${JSON.stringify(w)}`);
  }
  const p = cfg.policy;
  if (p?.type === 'poly' && !(p.maxIters > 0 && (p.power ?? 0.9) > 0)) throw new Error(`lr schedule: poly needs maxIters > 0 and power > 0, got ${JSON.stringify(p)}`);
  if (p?.type === 'cosine' && !(p.maxIters > 0)) throw new Error(`lr schedule: cosine needs maxIters > 0, got ${p.maxIters}`);
  if (p?.type === 'step' && p.milestones.some((m, i) => i > 0 && m < p.milestones[i - 1]!)) {
    throw new Error(`lr schedule: step milestones must be ascending, got [${p.milestones.join(', ')}]`);
  }
}

/** Validates the config once and returns `iter => lr`. */
export function lrSchedule(cfg: LrScheduleConfig): (iter: number) => number {
  check(cfg);
  return (iter) => lrAt(cfg, iter);
}
