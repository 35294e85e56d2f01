import { afterAll, describe, expect, it } from 'vitest';
import { crossEntropy, listBackends, seedEverything, type HostTensor } from '@partialnet/core';
import { PartialNet, setupBackend, tf, type PartialNetConfig } from './deps.js';

// The WebGPU suite: runs wherever a WebGPU adapter can be used (CI: Mesa's lavapipe with
// PARTIALNET_ALLOW_SOFTWARE_GPU=1, see .ci/install-lavapipe), and is skipped visibly elsewhere.
// Official-checkpoint parity on webgpu is in parity.test.ts (every backbone suite runs on webgpu).
const gpu = (await listBackends()).find((p) => p.name === 'webgpu')!;
const suite = gpu.available ? 'WebGPU: backbone' : `WebGPU suite skipped: ${gpu.reason}`;

// One training step against wasm: float32 sums in a different order (tiled GPU kernels vs XNNPACK).
// Measured on lavapipe: the loss agrees to float32 rounding, each gradient to 2.2e-5 of its
// largest value; the bars leave a margin of 10x and more.
const LOSS_RTOL = 1e-5;
const GRAD_RTOL = 1e-3;

const TINY: Partial<PartialNetConfig> = { embedDim: 16, depths: [1, 1, 1, 1], spatialAttn: true, act: 'gelu', numClasses: 5, featureDim: 32, dropPath: 0 };

/** One forward + backward on the active backend: the loss and every gradient, on the host. */
async function trainStep(weights: Map<string, HostTensor> | undefined): Promise<{ loss: number; grads: Map<string, Float32Array>; weights: Map<string, HostTensor> }> {
  seedEverything(11);
  const net = PartialNet.create(TINY);
  if (weights) net.loadStateDict(weights);
  net.train();
  const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
  const labels = tf.tensor1d([1, 3], 'int32');
  const { value, grads } = tf.variableGrads(() => crossEntropy(net.forward(x), labels), net.parameters());
  const loss = (await value.data())[0]!;
  const host = new Map<string, Float32Array>();
  for (const [name, v] of net.namedParameters()) if (grads[v.name]) host.set(name, (await grads[v.name]!.data()) as Float32Array);
  const state = await net.stateDict();
  tf.dispose([x, labels, value, grads]);
  net.dispose();
  return { loss, grads: host, weights: state };
}

describe.skipIf(!gpu.available)(suite, () => {
  afterAll(async () => {
    await setupBackend('wasm');
  });

  it(`one training step equals wasm's (loss rtol ${LOSS_RTOL}, gradients ${GRAD_RTOL} of their scale)`, async () => {
    await setupBackend('wasm');
    const ref = await trainStep(undefined);
    await setupBackend('webgpu');
    const before = tf.memory().numTensors;
    const got = await trainStep(ref.weights);
    expect(tf.memory().numTensors).toBe(before);
    expect(Math.abs(got.loss - ref.loss)).toBeLessThanOrEqual(LOSS_RTOL * Math.abs(ref.loss));
    const bad: string[] = [];
    let worst = 0;
    for (const [name, g] of ref.grads) {
      const h = got.grads.get(name);
      if (!h) {
        bad.push(`${name}: no gradient on webgpu`);
        continue;
      }
      let scale = 0;
      let diff = 0;
      for (let i = 0; i < g.length; i++) {
        scale = Math.max(scale, Math.abs(g[i]!));
        diff = Math.max(diff, Math.abs(g[i]! - h[i]!));
      }
      if (diff > GRAD_RTOL * scale + 1e-7) bad.push(`${name}: ${diff} vs scale ${scale}`);
      if (scale > 1e-4) worst = Math.max(worst, diff / scale);
    }
    console.log(`backbone webgpu vs wasm: loss rel diff ${(Math.abs(got.loss - ref.loss) / Math.abs(ref.loss)).toExponential(2)}, worst gradient diff / scale ${worst.toExponential(2)}`);
    expect(bad).toEqual([]);
    expect(ref.grads.size).toBeGreaterThan(10);
  });

  it('a synchronous read of a GPU tensor fails loudly, naming the fix', async () => {
    await setupBackend('webgpu');
    // A matMul result lives on the GPU (small elementwise ops may run on the host instead).
    const a = tf.matMul(tf.ones([32, 32]), tf.ones([32, 32]));
    expect(() => a.dataSync()).toThrow(/synchronous read of a GPU tensor.*await tensor\.data\(\)/);
    expect((await a.data())[0]).toBe(32);
    a.dispose();
  });
});
