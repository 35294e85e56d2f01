import { tf } from '../tf.js';
import type { Tensor, Tensor2D } from '../tf.js';
import { channelSum } from './channel-ops.js';
import { matMulTNWasm } from './matmul-tn.js';
import { wasmMatMulTakes } from '../runtime/wasm-kernels.js';

/**
 * a @ b with optional transposes. On wasm, tfjs's own kernel is 5-9x slower with a transpose flag
 * set (it leaves XNNPACK); our BatchMatMul override (runtime/wasm-matmul.ts) takes the flags in a
 * SIMD kernel. Measured per case (one thread): a @ b^T by that kernel beats transposing b for
 * XNNPACK (e.g. [3136, 256] x [128, 256]^T, a 1x1 conv's input gradient: 9.6 against 12.0 ms;
 * XNNPACK repacks a freshly transposed weight on every call); a^T @ b over a long K (a weight
 * gradient) has its own kernel that streams K in L2-sized blocks (matmul-tn.ts), else (C past L2,
 * or K or N no multiple of 4) an explicit transpose of a and a plain product. Other backends take
 * the flags for free.
 */
export function matMulT(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Tensor2D {
  if (tf.getBackend() !== 'wasm') return tf.matMul(a as Tensor2D, b as Tensor2D, transposeA, transposeB);
  const tn = transposeA && !transposeB ? matMulTNWasm(a as Tensor2D, b as Tensor2D) : undefined;
  if (tn) return tn;
  const at = (transposeA ? tf.transpose(a) : a) as Tensor2D;
  if (transposeB && wasmMatMulTakes(at, b, false, true)) return tf.matMul(at, b as Tensor2D, false, true);
  return tf.matMul(at, (transposeB ? tf.transpose(b) : b) as Tensor2D);
}

/**
 * x @ w + b on wasm as one kernel: tf.fused.matMul with a bias runs XNNPACK's fully-connected
 * operator with the bias added as it writes, where a broadcasting Add is another pass over the
 * output and another kernel call (on [16, 56, 56, 64]: 1.2 ms at best, 8 ms in one profile).
 * Other backends keep matMul + add.
 */
function matMulBias(x: Tensor2D, w: Tensor2D, b: Tensor): Tensor2D {
  if (tf.getBackend() === 'wasm') return tf.fused.matMul({ a: x, b: w, bias: b }) as Tensor2D;
  return tf.tidy(() => tf.add(tf.matMul(x, w), b) as Tensor2D);
}

/**
 * x @ w (+ b) for x [M, K], w [K, N], with a gradient through matMulT (the faster form of each
 * transposed product on wasm): tf.matMul's own gradient sets the flags, which with the stock wasm
 * kernel made a detector's 12544x1024 box-head FC take 28 s of backward against 1.2 s forward.
 * With a bias the forward is one kernel on wasm (matMulBias) and the bias gradient the per-channel
 * sum of dy; only x and w are kept for backward.
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
