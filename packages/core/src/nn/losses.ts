import { tf } from '../tf.js';

/**
 * Softmax cross-entropy of logits [N, K] against target distributions [N, K] (one-hot, smoothed,
 * mixed or weighted rows): the one implementation the classification and detection losses share.
 * By default the mean over rows of -sum(targets * log_softmax) (timm's SoftTargetCrossEntropy, used
 * with mixup / cutmix); with `avgFactor`, the sum over all rows divided by it (mmdet's avg_factor).
 */
export function softCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor2D, avgFactor?: number): tf.Scalar {
  return tf.tidy(() => {
    const weighted = tf.mul(targets, tf.logSoftmax(logits));
    if (avgFactor === undefined) return tf.neg(tf.mean(tf.sum(weighted, 1))) as tf.Scalar;
    return tf.div(tf.neg(tf.sum(weighted)), Math.max(avgFactor, 1e-12)) as tf.Scalar;
  });
}

/**
 * Mean softmax cross-entropy of logits [N, K] against integer labels, with optional label
 * smoothing (PyTorch's definition: the target puts 1 - s + s/K on the label and s/K elsewhere).
 */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, smoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const onehot = tf.cast(tf.oneHot(tf.cast(labels, 'int32'), k), 'float32');
    const target = smoothing > 0 ? tf.add(tf.mul(onehot, 1 - smoothing), smoothing / k) : onehot;
    return softCrossEntropy(logits, target as tf.Tensor2D);
  });
}
