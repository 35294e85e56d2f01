import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIST_URL, runOnTwoThreads } from './threaded-child.js';
import { AdamW, SGD, type Optimizer, type ParamGroup } from '../src/optim/optimizer.js';
import { registerOptimizerKernels, unregisterOptimizerKernels } from '../src/optim/fused-update.js';
import { Rng } from '../src/random.js';
import { setupBackend } from '../src/runtime/backend.js';
import { tf } from '../src/tf.js';
import type { NamedTensorMap, Variable } from '../src/tf.js';
import { withStock } from './wasm-stock.js';

// The fused optimizer updates on wasm (optim/fused-update.ts, runtime/optimizer-kernels.ts)
// against the composite of stock kernels they replace, run explicitly on the same backend (the
// kernels unregistered): every parameter and state buffer must have the same bits after every
// step (Object.is per element: +0 and -0 differ; NaN, which these inputs never produce, would
// equal NaN).

/**
 * Values that reach every corner of the arithmetic: exact zeros of both signs, denormals and
 * tiny normals, large values (g^2 overflows to Inf above ~1.8e19, so the second moment and the
 * denominator become Inf and the step 0), and ordinary ones.
 */
function mixedValues(rng: Rng, n: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const sign = rng.chance(0.5) ? -1 : 1;
    const kind = rng.next();
    if (kind < 0.08) out[i] = sign * 0;
    else if (kind < 0.14) out[i] = sign * rng.uniform(1, 8) * 1e-42; // denormal
    else if (kind < 0.2) out[i] = sign * rng.uniform(1, 8) * 1e-36;
    else if (kind < 0.25) out[i] = sign * rng.uniform(1, 8) * 10 ** rng.intInclusive(15, 30);
    else out[i] = sign * rng.uniform(0, 2) * scale;
  }
  return out;
}

/** Parameter shapes: tails of 1, 2 and 3 values after the vectors, parameters shorter than one vector, and one vector exactly. */
const SHAPES: number[][] = [[1], [2], [3], [4], [3, 5], [2, 3, 3, 7], [1037], [64, 33]];

let unique = 0;

function makeParams(rng: Rng): Float32Array[] {
  return SHAPES.map((s) => mixedValues(rng, tf.util.sizeFromShape(s), 1));
}

function variables(values: Float32Array[]): Variable[] {
  return values.map((v, i) => tf.tidy(() => tf.variable(tf.tensor(v, SHAPES[i]!), true, `fused_update_test_${unique++}`)));
}

function gradsFor(vars: Variable[], values: Float32Array[]): NamedTensorMap {
  const out: NamedTensorMap = {};
  vars.forEach((v, i) => (out[v.name] = tf.tensor(values[i]!, v.shape)));
  return out;
}

/** Elements of a and b that are not the same float32 (Object.is). */
function differing(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let count = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) count++;
  return count;
}

async function expectSameState(fused: Optimizer, composite: Optimizer, what: string): Promise<void> {
  for (const [i, p] of fused.params.entries()) {
    expect(differing(await p.data(), await composite.params[i]!.data()), `${what}: param ${i} [${p.shape.join(', ')}]`).toBe(0);
  }
  const a = await fused.stateDict();
  const b = await composite.stateDict();
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  for (const [key, t] of a) {
    expect(t.shape, key).toEqual(b.get(key)!.shape);
    expect(differing(t.data, b.get(key)!.data), `${what}: ${key}`).toBe(0);
  }
}

/** Kernels one step runs (tf.profile), to tell which path it took. */
async function kernelsOfStep(opt: Optimizer, grads: NamedTensorMap): Promise<string[]> {
  const info = await tf.profile(() => opt.step(grads));
  return info.kernels.map((k) => k.name);
}

type Build = (params: Variable[] | ParamGroup[]) => Optimizer;

/**
 * Runs `steps` steps on two copies of the same parameters, one with the fused kernels and one with
 * them unregistered, with new mixed gradients and a new lr each step, and compares all state after
 * each step.
 */
async function compareWithComposite(build: Build, groups: (vars: Variable[]) => ParamGroup[], steps: number, seed: number): Promise<{ fusedKernels: string[]; compositeKernels: string[] }> {
  const rng = new Rng(seed);
  const start = makeParams(rng);
  const [fusedVars, compositeVars] = [variables(start), variables(start)];
  const fused = build(groups(fusedVars));
  const composite = build(groups(compositeVars));
  let fusedKernels: string[] = [];
  let compositeKernels: string[] = [];
  try {
    for (let s = 0; s < steps; s++) {
      const g = SHAPES.map((shape, i) => mixedValues(rng, start[i]!.length, s % 2 === 0 ? 1e-2 : 3));
      const lr = rng.uniform(1e-4, 0.3);
      fused.lr = lr;
      composite.lr = lr;
      const [gf, gc] = [gradsFor(fusedVars, g), gradsFor(compositeVars, g)];
      fusedKernels = await kernelsOfStep(fused, gf);
      unregisterOptimizerKernels();
      try {
        compositeKernels = await kernelsOfStep(composite, gc);
      } finally {
        registerOptimizerKernels();
      }
      tf.dispose([gf, gc]);
      await expectSameState(fused, composite, `step ${s + 1}`);
    }
  } finally {
    fused.dispose();
    composite.dispose();
    tf.dispose([...fusedVars, ...compositeVars]);
  }
  return { fusedKernels, compositeKernels };
}

/** Half the parameters without weight decay and at twice the lr, as norms and biases often are. */
const twoGroups = (vars: Variable[]): ParamGroup[] => [{ params: vars.filter((_, i) => i % 2 === 0) }, { params: vars.filter((_, i) => i % 2 === 1), weightDecay: 0, lrScale: 2 }];

describe('fused optimizer updates on wasm', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  it('AdamW: bit-identical to the composite over 6 steps (decay and no-decay groups, tails of 1-3 values, zeros, denormals, huge values), in one kernel per parameter', async () => {
    const { fusedKernels, compositeKernels } = await compareWithComposite((p) => new AdamW(p, { weightDecay: 0.05 }), twoGroups, 6, 1);
    expect(fusedKernels.filter((k) => k === 'PartialnetAdamW')).toHaveLength(SHAPES.length);
    expect(fusedKernels).not.toContain('Sqrt');
    expect(compositeKernels).toContain('Sqrt');
    expect(compositeKernels).not.toContain('PartialnetAdamW');
  });

  it('AdamW: bit-identical with other betas and eps, and weight decay 0 everywhere', async () => {
    await compareWithComposite((p) => new AdamW(p, { betas: [0.8, 0.95], eps: 1e-6, weightDecay: 0 }), (vars) => [{ params: vars }], 4, 2);
  });

  const sgdCases: [string, ConstructorParameters<typeof SGD>[1]][] = [
    ['plain', { lr: 0.1 }],
    ['momentum', { lr: 0.1, momentum: 0.9 }],
    ['momentum with dampening and weight decay', { lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 1e-4 }],
    ['nesterov with weight decay', { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4 }],
  ];
  it.each(sgdCases)('SGD (%s): bit-identical to the composite over 4 steps, first momentum step included, in one kernel per parameter', async (_label, options) => {
    const { fusedKernels, compositeKernels } = await compareWithComposite((p) => new SGD(p, options), twoGroups, 4, 3);
    expect(fusedKernels.filter((k) => k === 'PartialnetSGD')).toHaveLength(SHAPES.length);
    expect(compositeKernels).not.toContain('PartialnetSGD');
  });

  it('writes new tensors: a reshape sharing a parameter\'s data, the gradients and the first momentum buffer keep their values', async () => {
    const p = tf.tidy(() => tf.variable(tf.tensor1d([1, -2, 3, 0.5, 7]), true, `fused_update_test_${unique++}`));
    const alias = tf.reshape(p, [5, 1]); // shares p's data id on wasm
    const before = Array.from(await alias.data());
    for (const opt of [new AdamW([p], { lr: 0.1 }), new SGD([p], { lr: 0.1, momentum: 0.9 })]) {
      const g = { [p.name]: tf.tensor1d([0.5, 0.5, -1, 2, 0]) };
      opt.step(g); // SGD's first step: the composite's buffer would be the gradient itself
      opt.step(g);
      expect(Array.from(await g[p.name]!.data())).toEqual([0.5, 0.5, -1, 2, 0]);
      tf.dispose(g);
      opt.dispose();
    }
    expect(Array.from(await alias.data())).toEqual(before);
    expect(Array.from(await p.data())).not.toEqual(before);
    tf.dispose([alias, p]);
  });

  it('leaves no tensors behind: numTensors is the same after 1 and after 5 steps, and back to the start after dispose', () => {
    const start = tf.memory().numTensors;
    const vars = variables(makeParams(new Rng(4)));
    for (const opt of [new AdamW(vars), new SGD(vars, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 })]) {
      const g = gradsFor(vars, makeParams(new Rng(5)));
      opt.step(g);
      const afterOne = tf.memory().numTensors;
      for (let i = 0; i < 4; i++) opt.step(g);
      expect(tf.memory().numTensors).toBe(afterOne);
      tf.dispose(g);
      opt.dispose();
    }
    tf.dispose(vars);
    expect(tf.memory().numTensors).toBe(start);
  });

  it('restoreStockWasmKernels (PARTIALNET_STOCK_KERNELS=1) removes the fused updates and registerWasmKernelOverrides puts them back', () => {
    const registered = (): boolean[] => ['PartialnetAdamW', 'PartialnetSGD'].map((k) => tf.getKernel(k, 'wasm') !== undefined);
    expect(registered()).toEqual([true, true]);
    expect(withStock(registered)).toEqual([false, false]);
    expect(registered()).toEqual([true, true]);
  });

  it('AdamW resumes from its state dict with the fused kernel exactly where an uninterrupted run goes', async () => {
    const rng = new Rng(6);
    const start = makeParams(rng);
    const g = [0, 1, 2, 3].map(() => makeParams(rng));
    const [a, b] = [variables(start), variables(start)];
    const run = new AdamW(a, { lr: 0.01 });
    for (const step of g) {
      const gm = gradsFor(a, step);
      run.step(gm);
      tf.dispose(gm);
    }
    const first = new AdamW(b, { lr: 0.01 });
    for (const step of g.slice(0, 2)) {
      const gm = gradsFor(b, step);
      first.step(gm);
      tf.dispose(gm);
    }
    const state = await first.stateDict();
    first.dispose();
    const resumed = new AdamW(b, { lr: 0.01 });
    resumed.loadStateDict(state);
    for (const step of g.slice(2)) {
      const gm = gradsFor(b, step);
      resumed.step(gm);
      tf.dispose(gm);
    }
    await expectSameState(resumed, run, 'resumed');
    run.dispose();
    resumed.dispose();
    tf.dispose([...a, ...b]);
  });
});

describe('fused optimizer updates elsewhere', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });
  afterAll(async () => {
    await setupBackend('wasm');
  });

  it('the cpu backend keeps the composite (no fused kernel runs)', async () => {
    const vars = variables(makeParams(new Rng(7)));
    const opt = new AdamW(vars);
    const g = gradsFor(vars, makeParams(new Rng(8)));
    const kernels = await kernelsOfStep(opt, g);
    expect(kernels).toContain('Sqrt');
    expect(kernels).not.toContain('PartialnetAdamW');
    tf.dispose(g);
    opt.dispose();
    tf.dispose(vars);
  });
});

// The threaded wasm build starts once per process: as in kernel-pool.test.ts, a child process on
// the built package with PARTIALNET_THREADS=2 runs the updates on a parameter large enough for
// the kernel pool (100,003 values: the last three in the scalar tail) with the pool on, with it
// off, and as the composite, and compares the bits.
const srcFiles = ['optim/optimizer.ts', 'optim/fused-update.ts', 'runtime/optimizer-kernels.ts', 'runtime/kernel-pool.ts', 'runtime/wasm-kernels.ts'];

const script = `
const d = ${JSON.stringify(DIST_URL.href)};
const { setupBackend, tf, AdamW, SGD } = await import(d + 'index.js');
const { configureKernelPool, kernelPool } = await import(d + 'runtime/kernel-pool.js');
const { nodeKernelPool } = await import(d + 'runtime/kernel-pool-node.js');
const { wasmHeap } = await import(d + 'runtime/wasm-internals.js');
const { registerOptimizerKernels, unregisterOptimizerKernels } = await import(d + 'optim/fused-update.js');
const r = await setupBackend('wasm');
const memory = wasmHeap(tf.backend()).memory();
const out = { threads: r.wasm.threads, shared: memory.buffer instanceof SharedArrayBuffer, cases: {} };
const n = 100003;
const p0 = tf.randomUniform([n], -1, 1, 'float32', 1);
const grads = [2, 3, 4].map((s) => tf.randomUniform([n], -0.1, 0.1, 'float32', s));

async function run(make, mode) {
  if (mode === 'composite') unregisterOptimizerKernels(); else registerOptimizerKernels();
  configureKernelPool(mode === 'pool' ? 2 : 1, nodeKernelPool);
  const p = tf.variable(p0, true, 'p_' + mode);
  const opt = make([p]);
  const tasks = kernelPool(memory)?.tasks ?? 0;
  for (const g of grads) opt.step({ [p.name]: g });
  const ran = (kernelPool(memory)?.tasks ?? 0) - tasks;
  const values = [await p.data(), ...[...(await opt.stateDict()).entries()].filter(([k]) => !k.endsWith('.step')).map(([, t]) => t.data)];
  opt.dispose();
  p.dispose();
  registerOptimizerKernels();
  return { ran, values };
}

for (const [name, make] of [['AdamW', (p) => new AdamW(p, { lr: 0.01, weightDecay: 0.05 })], ['SGD', (p) => new SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 })]]) {
  const before = tf.memory().numTensors;
  const pool = await run(make, 'pool');
  const serial = await run(make, 'serial');
  const composite = await run(make, 'composite');
  let vsSerial = 0, vsComposite = 0, total = 0;
  pool.values.forEach((a, i) => {
    total += a.length;
    for (let j = 0; j < a.length; j++) {
      if (!Object.is(a[j], serial.values[i][j])) vsSerial++;
      if (!Object.is(a[j], composite.values[i][j])) vsComposite++;
    }
  });
  out.cases[name] = { ran: pool.ran, serialRan: serial.ran, vsSerial, vsComposite, total, arrays: pool.values.length, leaked: tf.memory().numTensors - before };
}
console.log(JSON.stringify(out));
`;

describe.skipIf(typeof SharedArrayBuffer !== 'function')('fused optimizer updates on the threaded wasm build', () => {
  it('AdamW and SGD on two kernel-pool threads give the same bits as on one thread and as the composite, without leaks', () => {
    const out = runOnTwoThreads<{
      threads: number;
      shared: boolean;
      cases: Record<string, { ran: number; serialRan: number; vsSerial: number; vsComposite: number; total: number; arrays: number; leaked: number }>;
    }>(script, srcFiles);
    expect(out.threads).toBe(2);
    expect(out.shared).toBe(true);
    expect(Object.keys(out.cases)).toEqual(['AdamW', 'SGD']);
    for (const [name, c] of Object.entries(out.cases)) {
      expect(c.ran, `${name}: calls on the pool`).toBe(3);
      expect(c.serialRan, `${name}: pool calls with the pool off`).toBe(0);
      expect(c.arrays, name).toBe(name === 'AdamW' ? 3 : 2);
      expect(c.total, name).toBe(c.arrays * 100003);
      expect(c.vsSerial, `${name}: elements that differ from one thread`).toBe(0);
      expect(c.vsComposite, `${name}: elements that differ from the composite`).toBe(0);
      expect(c.leaked, `${name}: tensors left behind`).toBe(0);
    }
  }, 240_000);
});
