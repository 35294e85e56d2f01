import { tf } from '../tf.js';
import { Module } from '../module/module.js';
import type { OnnxGraph } from '../onnx/graph.js';
import { channelAffine, channelSum } from '../ops/channel-ops.js';
import { batchNormTrainBackward, batchNormTrainForward, fusedBatchNormApplies } from './batch-norm-kernels.js';

/** PyTorch's BatchNorm eps; tfjs-layers defaults to 1e-3, which moves PartialNet's logits by ~1e-2. */
export const BN_EPS = 1e-5;

/**
 * BatchNorm over the last (channel) axis, named like torch.nn.BatchNorm2d. In training it
 * normalises with batch statistics and updates the running ones (momentum 0.1, unbiased variance,
 * as PyTorch does); in inference, or when `frozen`, it is a fixed per-channel affine map.
 */
export class BatchNorm2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  /** Frozen BatchNorm always uses the running statistics and does not train its affine terms. */
  frozen = false;

  constructor(
    readonly numFeatures: number,
    readonly eps = BN_EPS,
    readonly momentum = 0.1,
  ) {
    super();
    this.weight = this.addParameter('weight', tf.ones([numFeatures]));
    this.bias = this.addParameter('bias', tf.zeros([numFeatures]));
    this.runningMean = this.addBuffer('running_mean', tf.zeros([numFeatures]));
    this.runningVar = this.addBuffer('running_var', tf.ones([numFeatures]));
  }

  override parameters(): tf.Variable[] {
    return this.frozen ? [] : super.parameters();
  }

  /** The inference-time map as `x * scale + shift`. */
  scaleShift(): { scale: tf.Tensor1D; shift: tf.Tensor1D } {
    return tf.tidy(() => {
      const scale = tf.mul(this.weight, tf.rsqrt(tf.add(this.runningVar, this.eps))) as tf.Tensor1D;
      const shift = tf.sub(this.bias, tf.mul(this.runningMean, scale)) as tf.Tensor1D;
      return { scale, shift };
    });
  }

  /** ONNX: inference-mode BatchNormalization over axis 1 (NCHW); ONNX Runtime folds it into a preceding Conv. */
  exportOnnx(g: OnnxGraph, x: string): string {
    const inputs = [x, g.weight(this.weight), g.weight(this.bias), g.weight(this.runningMean), g.weight(this.runningVar)];
    return g.op('BatchNormalization', inputs, { epsilon: { float: this.eps } });
  }

  /** Normalises `x` of any rank whose last axis holds the channels (NHWC or [N, C]). */
  forward<T extends tf.Tensor>(x: T): T {
    // One value per channel has no batch variance: the output would be the bias and the running
    // variance would decay to 0, so inference would differ from training. PyTorch raises here;
    // we normalise with the running statistics instead (and leave them alone), so that a batch
    // of one (a benchmark, an odd leftover batch) still trains the rest of the network.
    const singleValue = x.size === this.numFeatures;
    if (singleValue && this.training && !this.frozen) warnSingleValueOnce(x.shape);
    if (!this.training || this.frozen || singleValue) {
      return tf.tidy(() => {
        const { scale, shift } = this.scaleShift();
        return tf.engine().state.gradientDepth === 0 ? channelAffine(x, scale, shift) : (tf.add(tf.mul(x, scale), shift) as T);
      });
    }
    const count = x.size / this.numFeatures;
    // Running statistics follow PyTorch: momentum update with the unbiased variance.
    const updateRunning = (mean: tf.Tensor, variance: tf.Tensor): void => {
      const unbiased = tf.mul(variance, count / (count - 1));
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - this.momentum), tf.mul(mean, this.momentum)));
      this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - this.momentum), tf.mul(unbiased, this.momentum)));
    };
    // On wasm, fused kernels (batch-norm-kernels.ts) do the full-size passes on the kernel pool's
    // threads; they save x and the per-channel mean instead of x - mean, and recompute it.
    if (fusedBatchNormApplies(x)) return this.fusedForward(x, count, updateRunning);
    // Two passes (mean, then the mean square of x - mean), as tf.moments and PyTorch do; the sums
    // are channelSum's, the affine maps channelAffine's (both fast on wasm).
    const normalize = (input: tf.Tensor): { y: tf.Tensor; centred: tf.Tensor; inv: tf.Tensor } => {
      const mean = tf.div(channelSum(input), count);
      const centred = tf.sub(input, mean);
      const variance = tf.div(channelSum(tf.square(centred)), count);
      updateRunning(mean, variance);
      const inv = tf.rsqrt(tf.add(variance, this.eps));
      return { y: channelAffine(centred, tf.mul(inv, this.weight), this.bias), centred, inv };
    };
    if (tf.engine().state.gradientDepth === 0) return tf.tidy(() => normalize(x).y as T);
    // Under a gradient tape, the gradient is written out: the tape would otherwise keep every
    // full-size intermediate of the statistics and the affine map (about five copies of x per
    // BatchNorm) until the backward pass; this keeps x - mean and two per-channel vectors. Same
    // forward values; the gradient differs from autodiff's only by float32 rounding.
    const op = tf.customGrad((...args: unknown[]) => {
      const [input, weight, , save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, (ts: tf.Tensor[]) => void];
      const { y, centred, inv } = normalize(input);
      save([centred, inv, weight]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          tf.tidy(() => {
            const [c, iv, w] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
            const xhat = channelAffine(c, iv);
            const db = channelSum(dy);
            const dw = channelSum(tf.mul(dy, xhat));
            // dx = w inv (dy - mean(dy) - xhat mean(dy xhat)), per channel
            const a = tf.mul(w, iv);
            const dx = tf.sub(channelAffine(dy, a, tf.mul(a, tf.div(db, -count))), channelAffine(xhat, tf.mul(a, tf.div(dw, count))));
            return [dx, dw, db];
          }),
      };
    });
    return op(x, this.weight, this.bias) as T;
  }

  /** Training forward (and written-out backward) in the fused wasm kernels: same formulas as the composite. */
  private fusedForward<T extends tf.Tensor>(x: T, count: number, updateRunning: (mean: tf.Tensor, variance: tf.Tensor) => void): T {
    const normalize = (input: tf.Tensor): { y: tf.Tensor; mean: tf.Tensor; inv: tf.Tensor } => {
      const { y, mean, variance, inv } = batchNormTrainForward(input, this.weight, this.bias, this.eps);
      updateRunning(mean, variance);
      return { y, mean, inv };
    };
    if (tf.engine().state.gradientDepth === 0) return tf.tidy(() => normalize(x).y as T);
    const op = tf.customGrad((...args: unknown[]) => {
      const [input, weight, , save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, (ts: tf.Tensor[]) => void];
      const { y, mean, inv } = normalize(input);
      save([input, mean, inv, weight]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xi, m, iv, w] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
          return batchNormTrainBackward(dy, xi, m, iv, w);
        },
      };
    });
    return op(x, this.weight, this.bias) as T;
  }
}

let warnedSingleValue = false;

function warnSingleValueOnce(shape: readonly number[]): void {
  if (warnedSingleValue) return;
  warnedSingleValue = true;
  console.warn(`BatchNorm2d: one value per channel in training (input [${shape.join(', ')}]): using the running statistics for this batch; use a batch of at least 2 to train BatchNorm.`);
}
