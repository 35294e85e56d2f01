import { describe, expect, it } from 'vitest';
import { setupBackend, tf } from './deps.js';
import { compareGrads, TINY, trainStep } from './train-step.js';

// Core replaces tfjs-backend-wasm's SplitV, Concat and Slice (PConv's channel split and its
// gradient) and runs GELU as fused SIMD kernels there; cpu keeps tfjs's own kernels for the copies.
// One training step of a tiny PartialNet (with the PAT blocks: PAT_ch, PAT_sp, PAT_sf; without:
// plain partial convolutions, as T0) on wasm against cpu: float32 sums in a different order
// (XNNPACK vs JavaScript) and two GELUs that agree to ~1e-7. Measured: the loss equal, each
// gradient within 1e-5 of its largest value; the bars leave a margin of 10x.
const LOSS_RTOL = 1e-5;
const GRAD_RTOL = 1e-4;

describe('backbone training step with core\'s wasm kernels', () => {
  it.each([
    ['PAT blocks', true],
    ['plain partial convolutions', false],
  ])(`%s: equals the cpu backend's (loss rtol ${LOSS_RTOL}, gradients ${GRAD_RTOL} of their scale), leaking nothing`, async (_name, spatialAttn) => {
    const config = { ...TINY, spatialAttn };
    await setupBackend('cpu');
    const ref = await trainStep(undefined, config);
    await setupBackend('wasm');
    const before = tf.memory().numTensors;
    const got = await trainStep(ref.weights, config);
    expect(tf.memory().numTensors).toBe(before);
    expect(Math.abs(got.loss - ref.loss)).toBeLessThanOrEqual(LOSS_RTOL * Math.abs(ref.loss));
    const { bad, worst } = compareGrads(ref, got, GRAD_RTOL, 'wasm');
    console.log(`backbone wasm vs cpu: loss rel diff ${(Math.abs(got.loss - ref.loss) / Math.abs(ref.loss)).toExponential(2)}, worst gradient diff / scale ${worst.toExponential(2)}`);
    expect(bad).toEqual([]);
    expect(ref.grads.size).toBeGreaterThan(10);
  });
});
