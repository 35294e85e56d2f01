import { beforeAll, describe, expect, it } from 'vitest';
import { addBias, Conv2d, conv2d, linear, setupBackend, tf } from '../src/index.js';
import { relaxedSimdSupported } from '../src/runtime/relaxed-simd.js';

// Conv2d / linear with a bias on wasm put the bias into the conv's or matmul's kernel (no
// broadcasting Add). Against the unfused path, conv2d() + addBias() / matMul + add, on the same
// backend: the fused kernels add the bias in another order, so values agree to float32 rounding
// of the dot products (stated tolerance 1e-5 relative to the largest output + 1e-6).

function sample(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(new Float32Array(n).map((_, i) => Math.sin(i * 0.61 + seed) + 0.3 * Math.cos(i * 0.077 * seed)), shape);
}

function expectClose(got: tf.Tensor, want: tf.Tensor, what: string): void {
  expect(got.shape, what).toEqual(want.shape);
  const [g, w] = [got.dataSync(), want.dataSync()];
  let scale = 0;
  for (const v of w) scale = Math.max(scale, Math.abs(v));
  const tol = 1e-5 * scale + 1e-6;
  for (let i = 0; i < g.length; i++) {
    const err = Math.abs(g[i]! - w[i]!);
    if (!(err <= tol)) expect.fail(`${what}: element ${i} is ${g[i]}, unfused ${w[i]} (|diff| ${err} > ${tol})`);
  }
}

async function kernelNames(fn: () => tf.Tensor): Promise<string[]> {
  const info = await tf.profile(() => fn());
  tf.dispose(info.result as tf.Tensor);
  return info.kernels.map((k) => k.name);
}

function conv(cin: number, cout: number, kernelSize: number, stride: number, padding: number): Conv2d {
  const layer = new Conv2d(cin, cout, { kernelSize, stride, padding, bias: true });
  layer.bias!.assign(sample([cout], 11) as tf.Tensor1D);
  return layer;
}

// Node 20 gets relaxed SIMD when the wasm backend is set up (a V8 flag): before the skipIf below reads it
await setupBackend('wasm');

const layers: Array<[string, number, number, number, number, number[]]> = [
  ['1x1 (a pixel-wise linear)', 6, 10, 1, 1, [2, 5, 7, 6]],
  ['3x3, padding 1', 5, 8, 3, 1, [2, 6, 6, 5]],
  ['4x4 stride 4 (PatchEmbed)', 3, 8, 4, 4, [2, 8, 12, 3]],
  ['2x2 stride 2 (PatchMerging) on an odd map (the last row and column unused)', 8, 12, 2, 2, [2, 9, 11, 8]],
];

describe('Conv2d bias on wasm goes into the conv kernel and matches conv2d() + addBias()', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  it.each(layers)('inference, %s: same values, no Add kernel', async (_name, cin, cout, k, stride, shape) => {
    const layer = conv(cin, cout, k, stride, k === 3 ? 1 : 0);
    const x = sample(shape, 1) as tf.Tensor4D;
    const numTensors = tf.memory().numTensors;
    const ours = layer.forward(x);
    const unfused = tf.tidy(() => addBias(conv2d(x, layer.weight as tf.Tensor4D, layer.stride, layer.padding), layer.bias!));
    expectClose(ours, unfused, 'forward');
    tf.dispose([ours, unfused]);
    expect(tf.memory().numTensors).toBe(numTensors);
    expect(await kernelNames(() => layer.forward(x))).not.toContain('Add');
    x.dispose();
    layer.dispose();
  });

  it.skipIf(!relaxedSimdSupported())('inference and training, a tiling conv (kernel == stride) runs as patches @ weight + bias in our matmul, no Conv2D kernel', async () => {
    const layer = conv(8, 16, 2, 2, 0);
    const x = sample([2, 8, 8, 8], 5) as tf.Tensor4D;
    expect(await kernelNames(() => layer.forward(x))).not.toContain('FusedConv2D');
    const names = await kernelNames(() => tf.grad((xi: tf.Tensor) => tf.sum(layer.forward(xi as tf.Tensor4D)))(x));
    expect(names).toContain('_FusedMatMul');
    expect(names.filter((n) => n.startsWith('Conv2D') || n === 'FusedConv2D')).toEqual([]);
    x.dispose();
    layer.dispose();
  });

  it('inference, a 3x3 conv large enough for Winograd keeps it (plus the Add) instead of the direct fused conv', async () => {
    const layer = conv(64, 64, 3, 1, 1);
    const x = sample([2, 32, 32, 64], 4) as tf.Tensor4D;
    const names = await kernelNames(() => layer.forward(x));
    expect(names).toContain('PartialnetWinogradGather');
    expect(names).not.toContain('FusedConv2D');
    const ours = layer.forward(x);
    const unfused = tf.tidy(() => addBias(conv2d(x, layer.weight as tf.Tensor4D, 1, 1), layer.bias!));
    expectClose(ours, unfused, 'forward');
    tf.dispose([ours, unfused, x]);
    layer.dispose();
  });

  it.each(layers)('training, %s: x, weight and bias gradients equal the unfused path', async (_name, cin, cout, k, stride, shape) => {
    const layer = conv(cin, cout, k, stride, k === 3 ? 1 : 0);
    const x = sample(shape, 2) as tf.Tensor4D;
    const outShape = tf.tidy(() => layer.forward(x).shape);
    const up = sample(outShape, 3);
    const numTensors = tf.memory().numTensors;
    const w = layer.weight as tf.Tensor4D;
    const b = layer.bias!;
    const ours = tf.grads((xi: tf.Tensor, _w: tf.Tensor, _b: tf.Tensor) => tf.sum(tf.mul(layer.forward(xi as tf.Tensor4D), up)))([x, w, b]);
    const unfused = tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) =>
      tf.sum(tf.mul(addBias(conv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, layer.stride, layer.padding), bi), up)),
    )([x, w, b]);
    // layer.forward reads its own variables: the gradients for w and b come through them
    const viaVariables = tf.variableGrads(() => tf.sum(tf.mul(layer.forward(x), up)) as tf.Scalar, [w as tf.Variable, b as tf.Variable]);
    expectClose(ours[0]!, unfused[0]!, 'dx');
    expectClose(viaVariables.grads[w.name]!, unfused[1]!, 'dweight');
    expectClose(viaVariables.grads[b.name]!, unfused[2]!, 'dbias');
    tf.dispose([...ours, ...unfused, viaVariables.value, ...Object.values(viaVariables.grads)]);
    expect(tf.memory().numTensors).toBe(numTensors);
    if (k === 1) expect(await kernelNames(() => tf.grad((xi: tf.Tensor) => tf.sum(layer.forward(xi as tf.Tensor4D)))(x))).not.toContain('Add');
    tf.dispose([x, up]);
    layer.dispose();
  });
});

describe.each(['wasm', 'cpu'] as const)('linear with a bias (%s)', (backend) => {
  beforeAll(async () => {
    await setupBackend(backend);
  });

  it('inference and training give matMul + add and its gradients; on wasm one _FusedMatMul, no Add', async () => {
    const x = sample([9, 7], 4) as tf.Tensor2D;
    const w = sample([7, 12], 5) as tf.Tensor2D;
    const b = sample([12], 6);
    const up = sample([9, 12], 7);
    const numTensors = tf.memory().numTensors;
    const y = linear(x, w, b);
    const ref = tf.tidy(() => tf.add(tf.matMul(x, w), b));
    expectClose(y, ref, 'forward');
    const ours = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(linear(a as tf.Tensor2D, c as tf.Tensor2D, d), up)))([x, w, b]);
    const want = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.matMul(a as tf.Tensor2D, c as tf.Tensor2D), d), up)))([x, w, b]);
    ours.forEach((g, i) => expectClose(g, want[i]!, ['dx', 'dw', 'db'][i]!));
    tf.dispose([y, ref, ...ours, ...want]);
    expect(tf.memory().numTensors).toBe(numTensors);
    if (backend === 'wasm') {
      const names = await kernelNames(() => linear(x, w, b));
      expect(names).toContain('_FusedMatMul');
      expect(names).not.toContain('Add');
    }
    tf.dispose([x, w, b, up]);
  });
});
