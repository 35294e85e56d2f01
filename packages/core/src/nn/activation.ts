import { tf } from '../tf.js';
import type { OnnxGraph } from '../onnx/graph.js';
import { GELU_KERNEL, hasFusedGelu } from './gelu-kernels.js';

export type ActivationName = 'gelu' | 'relu';

/**
 * Exact GELU, x * Phi(x) with erf, as torch.nn.GELU() (the tanh form moves logits by ~1e-3). On
 * backends with the fused kernels (wasm, cpu: nn/gelu-kernels.ts) one pass forward and one
 * backward; elsewhere the composite.
 */
export function gelu<T extends tf.Tensor>(x: T): T {
  if (x.dtype === 'float32' && hasFusedGelu()) return tf.engine().runKernel(GELU_KERNEL, { x }) as T;
  return geluComposite(x);
}

/** GELU from tfjs ops (Multiply, Erf, Add): any backend; the reference the fused kernels are tested against. */
export function geluComposite<T extends tf.Tensor>(x: T): T {
  const value = (v: tf.Tensor): tf.Tensor => tf.tidy(() => tf.mul(tf.mul(v, 0.5), tf.add(tf.erf(tf.mul(v, Math.SQRT1_2)), 1)));
  if (tf.engine().state.gradientDepth === 0) return value(x) as T;
  // Under a gradient tape the derivative Phi(x) + x phi(x) is written out, so only x is kept for
  // the backward pass instead of the four full-size intermediates autodiff would hold.
  const op = tf.customGrad((...args: unknown[]) => {
    const [v, save] = args as [tf.Tensor, (ts: tf.Tensor[]) => void];
    save([v]);
    return {
      value: value(v),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const s = saved[0]!;
          const cdf = tf.mul(tf.add(tf.erf(tf.mul(s, Math.SQRT1_2)), 1), 0.5);
          const pdf = tf.mul(tf.exp(tf.mul(tf.square(s), -0.5)), 1 / Math.sqrt(2 * Math.PI));
          return tf.mul(dy, tf.add(cdf, tf.mul(s, pdf)));
        }),
    };
  });
  return op(x) as T;
}

/** relu6(x + 3) / 6, PyTorch's Hardsigmoid. */
export function hardSigmoid<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.div(tf.relu6(tf.add(x, 3)), 6) as T);
}

export function activation<T extends tf.Tensor>(name: ActivationName, x: T): T {
  return name === 'gelu' ? gelu(x) : tf.relu(x);
}

/**
 * ONNX exact GELU for opsets before 20 (no Gelu op): x * (1 + erf(x / sqrt 2)) * 0.5, node for node
 * what torch.onnx.export emits, the pattern ONNX Runtime fuses back into one Gelu kernel.
 */
export function geluOnnx(g: OnnxGraph, x: string): string {
  const erf = g.op('Erf', [g.op('Div', [x, g.scalar(Math.SQRT2)])]);
  return g.op('Mul', [g.op('Mul', [x, g.op('Add', [erf, g.scalar(1)])]), g.scalar(0.5)]);
}

/** ONNX HardSigmoid with PyTorch's slope 1/6 and offset 1/2. */
export function hardSigmoidOnnx(g: OnnxGraph, x: string): string {
  return g.op('HardSigmoid', [x], { alpha: { float: 1 / 6 }, beta: { float: 0.5 } });
}

export function activationOnnx(g: OnnxGraph, name: ActivationName, x: string): string {
  return name === 'gelu' ? geluOnnx(g, x) : g.op('Relu', [x]);
}
