import { tf } from '../tf.js';
import { channelSum } from './channel-ops.js';

type Tensor = tf.Tensor;

/**
 * x + bias over the last axis. Under a gradient tape tfjs's Add keeps both inputs for the
 * backward pass (it needs their shapes), i.e. the full-size conv output; the gradient of a bias
 * add needs no tensor at all, so this one keeps nothing.
 */
export function addBias<T extends Tensor>(x: T, bias: Tensor): T {
  if (tf.engine().state.gradientDepth === 0) return tf.add(x, bias);
  const op = tf.customGrad((...args: unknown[]) => {
    const [xi, b] = args as [Tensor, Tensor];
    return {
      value: tf.add(xi, b),
      gradFunc: (dy: Tensor) => [dy.clone(), channelSum(dy)],
    };
  });
  return op(x, bias) as T;
}

/**
 * ReLU that keeps its output for the backward pass (tfjs's keeps the input). The output is what
 * the next layer keeps anyway (a conv needs its input), so a conv -> ReLU -> conv chain holds one
 * activation per layer instead of two.
 */
export function reluKeepingOutput<T extends Tensor>(x: T): T {
  if (tf.engine().state.gradientDepth === 0) return tf.relu(x);
  const op = tf.customGrad((...args: unknown[]) => {
    const [xi, save] = args as [Tensor, (ts: Tensor[]) => void];
    const y = tf.relu(xi);
    save([y]);
    return {
      value: y,
      gradFunc: (dy: Tensor, saved: Tensor[]) => tf.tidy(() => tf.mul(dy, tf.step(saved[0]!))),
    };
  });
  return op(x) as T;
}

/**
 * a + b for tensors of one shape (residual connections). tfjs's Add keeps both inputs for the
 * backward pass (to reduce broadcast gradients); equal shapes need neither, so this keeps nothing.
 */
export function addSameShape<T extends Tensor>(a: T, b: Tensor): T {
  if (tf.engine().state.gradientDepth === 0) return tf.add(a, b);
  if (!tf.util.arraysEqual(a.shape, b.shape)) throw new Error(`addSameShape: shapes [${a.shape}] and [${b.shape}] differ`);
  const op = tf.customGrad((...args: unknown[]) => {
    const [x, y] = args as [Tensor, Tensor];
    return { value: tf.add(x, y), gradFunc: (dy: Tensor) => [dy.clone(), dy.clone()] };
  });
  return op(a, b) as T;
}
