import { tf } from '../tf.js';
import type { Tensor, Tensor2D } from '../tf.js';
import { channelSum } from './channel-ops.js';

/**
 * a @ b with optional transposes. The wasm backend's matmul is 5-9x slower with its transpose
 * flags set than without (it leaves XNNPACK's fast path), while an explicit transpose of one
 * operand costs about as much as the plain matmul; other backends take the flags for free.
 */
export function matMulT(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Tensor2D {
  if (tf.getBackend() !== 'wasm') return tf.matMul(a as Tensor2D, b as Tensor2D, transposeA, transposeB);
  return tf.matMul((transposeA ? tf.transpose(a) : a) as Tensor2D, (transposeB ? tf.transpose(b) : b) as Tensor2D);
}

/**
 * x @ w + b on wasm as one kernel: tf.fused.matMul with a bias runs XNNPACK's fully-connected
 * operator with the bias added as it writes, where a separate broadcasting Add is another pass of
 * ~2.6 ns per element over the output (8 ms for a [16, 56, 56, 64] activation). Other backends
 * keep matMul + add.
 */
function matMulBias(x: Tensor2D, w: Tensor2D, b: Tensor): Tensor2D {
  if (tf.getBackend() === 'wasm') return tf.fused.matMul({ a: x, b: w, bias: b }) as Tensor2D;
  return tf.tidy(() => tf.add(tf.matMul(x, w), b) as Tensor2D);
}

/**
 * x @ w (+ b) for x [M, K], w [K, N], with a gradient that avoids transposed matmuls on wasm:
 * tf.matMul's own gradient sets the flags, which made a detector's 12544x1024 box-head FC take
 * 28 s of backward against 1.2 s forward. With a bias the forward is one fused kernel on wasm
 * (matMulBias) and its gradient the per-channel sum of dy; only x and w are kept for backward.
 */
export function linear(x: Tensor2D, w: Tensor2D, b?: Tensor): Tensor2D {
  if (tf.engine().state.gradientDepth === 0) return b ? matMulBias(x, w, b) : tf.matMul(x, w);
  const inputGrads = (dy: Tensor, saved: Tensor[]): Tensor[] => {
    const [xs, ws] = saved as [Tensor2D, Tensor2D];
    return [matMulT(dy, ws, false, true), matMulT(xs, dy, true, false)];
  };
  if (!b) {
    const mm = tf.customGrad((...args: unknown[]) => {
      const [xi, wi, save] = args as [Tensor2D, Tensor2D, (t: Tensor[]) => void];
      save([xi, wi]);
      return { value: tf.matMul(xi, wi), gradFunc: (dy: Tensor, saved: Tensor[]) => tf.tidy(() => inputGrads(dy, saved)) };
    });
    return mm(x, w) as Tensor2D;
  }
  const mmBias = tf.customGrad((...args: unknown[]) => {
    const [xi, wi, bi, save] = args as [Tensor2D, Tensor2D, Tensor, (t: Tensor[]) => void];
    save([xi, wi]);
    return {
      value: matMulBias(xi, wi, bi),
      gradFunc: (dy: Tensor, saved: Tensor[]) => tf.tidy(() => [...inputGrads(dy, saved), channelSum(dy)]),
    };
  });
  return mmBias(x, w, b) as Tensor2D;
}
