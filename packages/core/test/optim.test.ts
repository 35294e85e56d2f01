import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, SGD, clipGradNorm, type ParamGroup } from '../src/optim/optimizer.js';
import { lrAt, lrSchedule } from '../src/optim/schedule.js';
import { setupBackend } from '../src/runtime/backend.js';
import { tf } from '../src/tf.js';
import type { NamedTensorMap, Variable } from '../src/tf.js';

let unique = 0;
function variable(values: number[]): Variable {
  const initial = tf.tensor1d(values);
  const v = tf.variable(initial, true, `optim_test_${unique++}`);
  initial.dispose();
  return v;
}

function grads(vars: Variable[], values: number[][]): NamedTensorMap {
  const out: NamedTensorMap = {};
  vars.forEach((v, i) => (out[v.name] = tf.tensor1d(values[i]!)));
  return out;
}

function read(v: Variable): number[] {
  return Array.from(v.dataSync());
}

/** torch.optim.AdamW's update, scalar float64, written out from its documentation. */
function adamwReference(p0: number[], gs: number[][], lr: number, wd: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): number[] {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  gs.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < p.length; i++) {
      p[i]! *= 1 - lr * wd;
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
      const denom = Math.sqrt(v[i]!) / Math.sqrt(1 - b2 ** t) + eps;
      p[i]! -= (lr / (1 - b1 ** t)) * (m[i]! / denom);
    }
  });
  return p;
}

/** torch.optim.SGD's update (dampening 0), scalar float64. */
function sgdReference(p0: number[], gs: number[][], lr: number, momentum: number, wd: number, nesterov: boolean): number[] {
  const p = [...p0];
  let buf: number[] | undefined;
  for (const g of gs) {
    const d = g.map((gi, i) => gi + wd * p[i]!);
    buf = buf ? buf.map((b, i) => momentum * b + d[i]!) : [...d];
    const step = nesterov ? d.map((di, i) => di + momentum * buf![i]!) : buf;
    for (let i = 0; i < p.length; i++) p[i]! -= lr * step[i]!;
  }
  return p;
}

function expectClose(actual: number[], expected: number[], tol = 1e-6): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i]!), `index ${i}: ${a} vs ${expected[i]}`).toBeLessThan(tol));
}

const P0 = [1, -2, 0.5, 3];
const G = [
  [0.1, -0.2, 0.3, 0],
  [-0.5, 0.4, 0, 1e-3],
  [0.2, 0.2, -0.1, -2],
];

beforeAll(async () => {
  await setupBackend('cpu');
});

describe('AdamW', () => {
  it('matches a hand calculation of the first step', () => {
    const before = tf.memory().numTensors;
    const p = variable([1]);
    const opt = new AdamW([p], { lr: 0.01, weightDecay: 0.1 });
    const g = grads([p], [[0.1]]);
    opt.step(g);
    // decay: 1 * (1 - 0.01*0.1) = 0.999; bias-corrected m = 0.1, sqrt(v) = 0.1:
    // 0.999 - 0.01 * 0.1 / (0.1 + 1e-8) = 0.98900000099999...
    expect(read(p)[0]).toBeCloseTo(0.989000001, 7);
    tf.dispose(g);
    opt.dispose();
    p.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('matches torch.optim.AdamW over three steps, with per-group weight decay and lr scale', () => {
    const before = tf.memory().numTensors;
    const a = variable(P0);
    const b = variable(P0);
    const groups: ParamGroup[] = [{ params: [a] }, { params: [b], weightDecay: 0, lrScale: 0.5 }];
    const opt = new AdamW(groups, { lr: 0.01, weightDecay: 0.05 });
    let afterFirst = 0;
    G.forEach((g, k) => {
      const gm = grads([a, b], [g, g]);
      opt.step(gm);
      tf.dispose(gm);
      if (k === 0) afterFirst = tf.memory().numTensors;
      else expect(tf.memory().numTensors).toBe(afterFirst);
    });
    expectClose(read(a), adamwReference(P0, G, 0.01, 0.05));
    expectClose(read(b), adamwReference(P0, G, 0.005, 0));
    opt.dispose();
    tf.dispose([a, b]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('skips parameters without a gradient and uses the lr passed to step', async () => {
    const before = tf.memory().numTensors;
    const a = variable([1, 2]);
    const b = variable([3, 4]);
    const opt = new AdamW([a, b], { lr: 0.1, weightDecay: 0 });
    const g = { [a.name]: tf.tensor1d([1, -1]) };
    opt.step(g, 0.02);
    expect(opt.lr).toBe(0.02);
    expectClose(read(a), adamwReference([1, 2], [[1, -1]], 0.02, 0));
    expect(read(b)).toEqual([3, 4]);
    expect((await opt.stateDict()).has('state.1.step')).toBe(false);
    tf.dispose(g);
    opt.dispose();
    tf.dispose([a, b]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('resumes from its state dict exactly where it left off', async () => {
    const before = tf.memory().numTensors;
    const a = variable(P0);
    const opt = new AdamW([a], { lr: 0.01 });
    for (const g of G.slice(0, 2)) {
      const gm = grads([a], [g]);
      opt.step(gm);
      tf.dispose(gm);
    }
    const state = await opt.stateDict();
    expect([...state.keys()].sort()).toEqual(['state.0.exp_avg', 'state.0.exp_avg_sq', 'state.0.step']);
    expect(Array.from(state.get('state.0.step')!.data)).toEqual([2]);

    const resumed = variable(read(a));
    const opt2 = new AdamW([resumed], { lr: 0.01 });
    opt2.loadStateDict(state);
    const g3a = grads([a], [G[2]!]);
    const g3b = grads([resumed], [G[2]!]);
    opt.step(g3a);
    opt2.step(g3b);
    expect(read(resumed)).toEqual(read(a));
    expectClose(read(a), adamwReference(P0, G, 0.01, 0.01));

    tf.dispose([g3a, g3b]);
    opt.dispose();
    opt2.dispose();
    tf.dispose([a, resumed]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses state that does not fit its parameters, without changing anything', async () => {
    const before = tf.memory().numTensors;
    const a = variable([1, 2, 3]);
    const opt = new AdamW([a]);
    const wrong = new Map([
      ['state.0.step', { dtype: 'int32' as const, shape: [1], data: Int32Array.of(5) }],
      ['state.0.exp_avg', { dtype: 'float32' as const, shape: [2], data: new Float32Array(2) }],
      ['state.7.step', { dtype: 'int32' as const, shape: [1], data: Int32Array.of(1) }],
    ]);
    expect(() => opt.loadStateDict(wrong)).toThrow(/state\.0\.exp_avg: float32 \[2\] does not match parameter '.+' \[3\][\s\S]*state\.7\.step: unexpected/);
    expect((await opt.stateDict()).size).toBe(0);
    opt.dispose();
    a.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects gradients for unknown parameters or of the wrong shape', () => {
    const before = tf.memory().numTensors;
    const a = variable([1, 2]);
    const opt = new AdamW([a]);
    const stray = { nope: tf.tensor1d([1]) };
    const bad = { [a.name]: tf.tensor1d([1, 2, 3]) };
    expect(() => opt.step(stray)).toThrow(/gradient for 'nope', which is not one of its parameters/);
    expect(() => opt.step(bad)).toThrow(/has shape \[3\], parameter \[2\]/);
    tf.dispose([stray, bad]);
    opt.dispose();
    a.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('SGD', () => {
  for (const nesterov of [false, true]) {
    it(`matches torch.optim.SGD with momentum${nesterov ? ' and nesterov' : ''} and coupled weight decay over three steps`, () => {
      const before = tf.memory().numTensors;
      const a = variable(P0);
      const b = variable(P0);
      const opt = new SGD([{ params: [a] }, { params: [b], weightDecay: 0 }], { lr: 0.1, momentum: 0.9, nesterov, weightDecay: 1e-2 });
      let afterFirst = 0;
      G.forEach((g, k) => {
        const gm = grads([a, b], [g, g]);
        opt.step(gm);
        tf.dispose(gm);
        if (k === 0) afterFirst = tf.memory().numTensors;
        else expect(tf.memory().numTensors).toBe(afterFirst);
      });
      expectClose(read(a), sgdReference(P0, G, 0.1, 0.9, 1e-2, nesterov));
      expectClose(read(b), sgdReference(P0, G, 0.1, 0.9, 0, nesterov));
      opt.dispose();
      tf.dispose([a, b]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('plain SGD is p -= lr * g and keeps no state', async () => {
    const before = tf.memory().numTensors;
    const a = variable([1, -1]);
    const opt = new SGD([a], { lr: 0.5 });
    const g = grads([a], [[0.2, 0.4]]);
    opt.step(g);
    expectClose(read(a), [0.9, -1.2]);
    expect([...(await opt.stateDict()).keys()]).toEqual(['state.0.step']);
    tf.dispose(g);
    opt.dispose();
    a.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('clipGradNorm', () => {
  it('scales by maxNorm / (norm + 1e-6) only when the global norm is larger', async () => {
    const before = tf.memory().numTensors;
    const g = { a: tf.tensor1d([3]), b: tf.tensor2d([[4, 0]]) };
    const clipped = await clipGradNorm(g, 1);
    expect(clipped.norm).toBeCloseTo(5, 6);
    expectClose(Array.from(clipped.grads.a!.dataSync()), [3 / (5 + 1e-6)]);
    expectClose(Array.from(clipped.grads.b!.dataSync()), [4 / (5 + 1e-6), 0]);
    expect(clipped.grads.b!.shape).toEqual([1, 2]);
    const kept = await clipGradNorm(g, 10);
    expect(kept.norm).toBeCloseTo(5, 6);
    expect(Array.from(kept.grads.a!.dataSync())).toEqual([3]);
    tf.dispose([g, clipped.grads, kept.grads]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('learning-rate schedules', () => {
  it('linear warmup on top of step decay (mmdetection 1x)', () => {
    const cfg = { lr: 0.02, warmup: { iters: 500, ratio: 0.001 }, policy: { type: 'step' as const, milestones: [8000, 11000], gamma: 0.1 } };
    expect(lrAt(cfg, 0)).toBeCloseTo(2e-5, 12);
    expect(lrAt(cfg, 250)).toBeCloseTo(0.02 * (1 - 0.5 * 0.999), 12);
    expect(lrAt(cfg, 500)).toBe(0.02);
    expect(lrAt(cfg, 7999)).toBe(0.02);
    expect(lrAt(cfg, 8000)).toBeCloseTo(0.002, 12);
    expect(lrAt(cfg, 11000)).toBeCloseTo(0.0002, 12);
  });

  it('cosine from lr to minLr, flat afterwards, with warmup', () => {
    const f = lrSchedule({ lr: 1, policy: { type: 'cosine', maxIters: 100, minLr: 0.1 }, warmup: { iters: 10, ratio: 0.5 } });
    expect(f(0)).toBeCloseTo(0.5, 12);
    expect(f(5)).toBeCloseTo((0.1 + 0.9 * (1 + Math.cos(Math.PI * 0.05)) / 2) * 0.75, 12);
    expect(f(50)).toBeCloseTo(0.55, 12);
    expect(f(100)).toBeCloseTo(0.1, 12);
    expect(f(250)).toBeCloseTo(0.1, 12);
  });

  it("poly as mmcv: (lr - minLr)(1 - iter/max)^0.9 + minLr, minLr after the end", () => {
    const f = lrSchedule({ lr: 2e-4, policy: { type: 'poly', maxIters: 40000 } });
    expect(f(0)).toBeCloseTo(2e-4, 15);
    expect(f(20000)).toBeCloseTo(2e-4 * 0.5 ** 0.9, 15);
    expect(f(40000)).toBe(0);
    const g = lrSchedule({ lr: 1, policy: { type: 'poly', maxIters: 10, power: 2, minLr: 0.1 } });
    expect(g(5)).toBeCloseTo(0.9 * 0.25 + 0.1, 12);
    expect(g(99)).toBeCloseTo(0.1, 12);
    expect(() => lrSchedule({ lr: 0.1, policy: { type: 'poly', maxIters: 0 } })).toThrow(/poly needs maxIters > 0/);
  });

  it('constant by default and validates its config', () => {
    expect(lrAt({ lr: 0.3 }, 12345)).toBe(0.3);
    expect(() => lrSchedule({ lr: 0.1, policy: { type: 'cosine', maxIters: 0 } })).toThrow(/cosine needs maxIters > 0/);
    expect(() => lrSchedule({ lr: 0.1, policy: { type: 'step', milestones: [5, 3] } })).toThrow(/ascending/);
    expect(() => lrSchedule({ lr: 0.1, warmup: { iters: 10, ratio: 2 } })).toThrow(/ratio <= 1/);
  });
});
