import { tf } from '../tf.js';
import type { Tensor, Tensor2D } from '../tf.js';
import { matMulTNWasm } from './matmul-tn.js';

/**
 * a @ b with optional transposes. The wasm backend's matmul is 5-9x slower with its transpose
 * flags set than without (it leaves XNNPACK's fast path), while an explicit transpose of one
 * operand costs about as much as the plain matmul; other backends take the flags for free. a^T b
 * (every weight gradient) has its own wasm kernel (matmul-tn.ts) where it is faster.
 */
export function matMulT(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Tensor2D {
  if (tf.getBackend() !== 'wasm') return tf.matMul(a as Tensor2D, b as Tensor2D, transposeA, transposeB);
  // a^T b (weight gradients): our kernel streams both operands, no transpose, no repacking
  const tn = transposeA && !transposeB ? matMulTNWasm(a as Tensor2D, b as Tensor2D) : undefined;
  if (tn) return tn;
  return tf.matMul((transposeA ? tf.transpose(a) : a) as Tensor2D, (transposeB ? tf.transpose(b) : b) as Tensor2D);
}

/**
 * x @ w (+ b) for x [M, K], w [K, N], with a gradient that avoids transposed matmuls on wasm:
 * tf.matMul's own gradient sets the flags, which made a detector's 12544x1024 box-head FC take
 * 28 s of backward against 1.2 s forward.
 */
export function linear(x: Tensor2D, w: Tensor2D, b?: Tensor): Tensor2D {
  if (tf.engine().state.gradientDepth === 0) return tf.tidy(() => (b ? tf.add(tf.matMul(x, w), b) : tf.matMul(x, w)));
  const mm = tf.customGrad((...args: unknown[]) => {
    const [xi, wi, save] = args as [Tensor2D, Tensor2D, (t: Tensor[]) => void];
    save([xi, wi]);
    return {
      value: tf.matMul(xi, wi),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [xs, ws] = saved as [Tensor2D, Tensor2D];
        return tf.tidy(() => [matMulT(dy, ws, false, true), matMulT(xs, dy, true, false)]);
      },
    };
  });
  const y = mm(x, w) as Tensor2D;
  if (!b) return y;
  const out = tf.add(y, b) as Tensor2D;
  y.dispose();
  return out;
}
