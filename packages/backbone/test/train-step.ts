import { crossEntropy, seedEverything, type HostTensor } from '@partialnet/core';
import { PartialNet, tf, type PartialNetConfig } from './deps.js';

// One training step of a tiny PartialNet, for suites that compare backends (webgpu vs wasm, wasm
// vs cpu): the loss and every gradient, on the host.

export const TINY: Partial<PartialNetConfig> = { embedDim: 16, depths: [1, 1, 1, 1], spatialAttn: true, act: 'gelu', numClasses: 5, featureDim: 32, dropPath: 0 };

export interface StepResult {
  loss: number;
  grads: Map<string, Float32Array>;
  weights: Map<string, HostTensor>;
}

/** One forward + backward on the active backend (weights from `weights`, or seeded ones). */
export async function trainStep(weights: Map<string, HostTensor> | undefined, config: Partial<PartialNetConfig> = TINY): Promise<StepResult> {
  seedEverything(11);
  const net = PartialNet.create(config);
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

/**
 * Gradients of `got` against `ref`: the ones further than `rtol` of their largest value (or
 * missing), and the worst diff / scale over gradients of scale above 1e-4.
 */
export function compareGrads(ref: StepResult, got: StepResult, rtol: number, backend: string): { bad: string[]; worst: number } {
  const bad: string[] = [];
  let worst = 0;
  for (const [name, g] of ref.grads) {
    const h = got.grads.get(name);
    if (!h) {
      bad.push(`${name}: no gradient on ${backend}`);
      continue;
    }
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < g.length; i++) {
      scale = Math.max(scale, Math.abs(g[i]!));
      diff = Math.max(diff, Math.abs(g[i]! - h[i]!));
    }
    if (diff > rtol * scale + 1e-7) bad.push(`${name}: ${diff} vs scale ${scale}`);
    if (scale > 1e-4) worst = Math.max(worst, diff / scale);
  }
  return { bad, worst };
}
