import { afterAll, describe, expect, it } from 'vitest';
import { listBackends } from '@partialnet/core';
import { setupBackend, tf } from './deps.js';
import { compareGrads, trainStep } from './train-step.js';

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
    const { bad, worst } = compareGrads(ref, got, GRAD_RTOL, 'webgpu');
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
