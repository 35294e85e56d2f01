// core replaces tfjs's engine.gradients with one that frees gradients and saved tensors as the
// backward pass goes (runtime/lean-backprop.ts). Here against tfjs's own, still on the engine's prototype.
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm2d, conv2d, linear, setupBackend, tf } from '../src/index.js';

type Gradients = (f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean) => { value: tf.Tensor; grads: tf.Tensor[] };

/** tfjs-core's own engine.gradients (core installs its replacement on the engine instance). */
function tfjsGradients(): Gradients {
  const engine = tf.engine();
  const own = (Object.getPrototypeOf(engine) as { gradients: Gradients }).gradients;
  expect(own).not.toBe((engine as unknown as { gradients: Gradients }).gradients);
  return own.bind(engine);
}

describe.each(['cpu', 'wasm'] as const)('lean backprop on %s', (backend) => {
  beforeAll(async () => {
    await setupBackend(backend);
  });

  /** A graph with what a detector has: customGrad convs and linears, BatchNorm, a tensor used twice, broadcasting, a boolean input off the gradient's path, concat / slice. */
  function net(w: { filter: tf.Variable; fc: tf.Variable; bias: tf.Variable; bn: BatchNorm2d }, x: tf.Tensor4D): tf.Scalar {
    const h = tf.relu(w.bn.forward(conv2d(x, w.filter, 1, 'same')));
    const twice = tf.add(tf.mul(h, h), h);
    const flat = tf.reshape(twice, [2, -1]) as tf.Tensor2D;
    const z = tf.add(linear(flat, w.fc), w.bias);
    const picked = tf.where(tf.tensor2d([[true, false, true], [false, true, true]]), z, tf.neg(z));
    const joined = tf.concat([picked, tf.slice(z, [0, 0], [1, 3])], 0);
    return tf.sum(tf.square(joined));
  }

  it('gives the gradients of tfjs bit for bit, leaves no tensor behind, and keeps the caller\'s dy', () => {
    const w = {
      filter: tf.variable(tf.randomNormal([3, 3, 3, 4], 0, 0.3, 'float32', 1)),
      fc: tf.variable(tf.randomNormal([6 * 5 * 4, 3], 0, 0.1, 'float32', 2)),
      bias: tf.variable(tf.randomNormal([3], 0, 1, 'float32', 3)),
      bn: new BatchNorm2d(4),
    };
    const params = [w.filter, w.fc, w.bias, w.bn.weight, w.bn.bias];
    const x = tf.randomNormal([2, 6, 5, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const ours = tf.variableGrads(() => net(w, x), params);
    const ownGrads = tfjsGradients();
    const theirs = ownGrads(() => net(w, x), params, undefined, true);
    expect(ours.value.dataSync()).toEqual(theirs.value.dataSync());
    params.forEach((p, i) => {
      expect(ours.grads[p.name]!.shape).toEqual(p.shape);
      expect(ours.grads[p.name]!.dataSync()).toEqual(theirs.grads[i]!.dataSync());
    });
    tf.dispose([ours.value, theirs.value, ...Object.values(ours.grads), ...theirs.grads]);

    // A given dy scales the gradient and survives the pass.
    const dy = tf.scalar(3);
    const at = tf.tensor1d([1, 2]);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(v, v)))(at, dy);
    expect([...g.dataSync()]).toEqual([6, 12]);
    expect(dy.isDisposed).toBe(false);
    tf.dispose([g, dy, at]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w.filter, w.fc, w.bias]);
    w.bn.dispose();
  });

  it('higher-order gradients still work (nested passes keep tfjs\'s own)', () => {
    const d2 = tf.grad(tf.grad((v: tf.Tensor) => tf.pow(v, 3)));
    const r = d2(tf.scalar(2));
    expect(r.dataSync()[0]).toBeCloseTo(12, 5);
    r.dispose();
  });

  it('a deep chain peaks lower than under tfjs (gradients and saved tensors freed as the pass goes)', async () => {
    const v = tf.variable(tf.randomNormal([256, 256], 0, 1, 'float32', 5));
    // Each link's inner tensors are freed in the forward pass (Neg saves nothing), so only the
    // backward pass can hold them all: tfjs keeps a gradient for each to the end.
    const chain = () => {
      let h: tf.Tensor = v;
      for (let i = 0; i < 20; i++) h = tf.tidy(() => tf.neg(tf.neg(tf.neg(tf.mul(h, 1.01)))));
      return tf.sum(h) as tf.Scalar;
    };
    const ownGrads = tfjsGradients();
    const peak = async (run: () => tf.Tensor[]) => {
      let out: tf.Tensor[] = [];
      const info = await tf.profile(() => {
        out = run();
        return out;
      });
      tf.dispose(out);
      return info.peakBytes;
    };
    const lean = await peak(() => {
      const r = tf.variableGrads(chain, [v]);
      return [r.value, r.grads[v.name]!];
    });
    const tfjs = await peak(() => {
      const r = ownGrads(chain, [v], undefined, true);
      return [r.value, ...r.grads];
    });
    expect(lean).toBeLessThan(tfjs / 2);
    v.dispose();
  });
});
