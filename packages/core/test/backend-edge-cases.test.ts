import { afterAll, beforeAll, describe, expect, it as itOn } from 'vitest';
import { absSignGrad, addN, exactSign } from '../src/index.js';
import { listBackends, setupBackend, type BackendName } from '../src/runtime/backend.js';
import { tf } from '../src/tf.js';

// Kernels that differ between tfjs backends (issue 14); each case is checked on every backend
// this machine has, and listed as skipped, with the reason, on the others. A software WebGPU
// adapter counts here (correctness, not speed); PARTIALNET_ALLOW_SOFTWARE_GPU=0 leaves it out.
process.env.PARTIALNET_ALLOW_SOFTWARE_GPU ??= '1';
const probes = await listBackends();
const BACKENDS = (['cpu', 'wasm', 'webgpu'] as BackendName[]).map((name) => {
  const p = probes.find((q) => q.name === name)!;
  return { name, skip: p.available ? undefined : `${name} unavailable: ${p.reason}` };
});

afterAll(async () => {
  await setupBackend('cpu');
});

describe.each(BACKENDS)('backend edge cases on $name', ({ name, skip }) => {
  const it = itOn.skipIf(skip !== undefined);
  beforeAll(async () => {
    if (!skip) await setupBackend(name);
  });

  it('exactSign gives -1 / 0 / +1 for tiny magnitudes (wasm tf.sign gives 0 below ~1.2e-7)', async () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor1d([-1e-8, 1e-8, -1e-30, 1e-30, 0, -0, 2e-7, -3, 5]);
    const s = exactSign(x);
    expect(Array.from(await s.data())).toEqual([-1, 1, -1, 1, 0, 0, 1, -1, 1]);
    tf.dispose([x, s]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('absSignGrad has |x| as value and sign(x) as gradient, 0 at exactly 0 (tf.abs gives -1)', async () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor1d([-2, -1e-8, 0, 1e-8, 3]);
    const v = absSignGrad(x);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(absSignGrad(t), 2)))(x);
    expect(Array.from(await v.data())).toEqual(Array.from(new Float32Array([2, 1e-8, 0, 1e-8, 3])));
    expect(Array.from(await g.data())).toEqual([-2, -2, 0, 2, 2]);
    tf.dispose([x, v, g]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('addN sums any number of tensors (webgpu tf.addN returns a stale buffer above 7 inputs)', async () => {
    const before = tf.memory().numTensors;
    for (const n of [1, 2, 7, 8, 13, 50]) {
      const xs = Array.from({ length: n }, (_, i) => tf.fill([3], i + 1));
      const sum = addN(xs);
      expect(Array.from(await sum.data()), `${n} inputs`).toEqual([0, 0, 0].map(() => (n * (n + 1)) / 2));
      tf.dispose([...xs, sum]);
    }
    // Its gradient reaches every input.
    const vars = Array.from({ length: 9 }, (_, i) => tf.tidy(() => tf.variable(tf.scalar(i))));
    const { value, grads } = tf.variableGrads(() => addN(vars.map((v) => tf.mul(v, 3))) as tf.Scalar, vars);
    expect((await value.data())[0]).toBe(3 * 36);
    for (const v of vars) expect((await grads[v.name]!.data())[0]).toBe(3);
    tf.dispose([value, grads, vars]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => addN([])).toThrow(/at least one/);
  });
});
