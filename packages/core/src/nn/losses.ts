import { tf } from '../tf.js';

/**
 * Mean softmax cross-entropy of logits [N, K] against integer labels, with optional label
 * smoothing (PyTorch's definition: the target puts 1 - s + s/K on the label and s/K elsewhere).
 */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, smoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const logProbs = tf.logSoftmax(logits);
    const onehot = tf.cast(tf.oneHot(tf.cast(labels, 'int32'), k), 'float32');
    const target = smoothing > 0 ? tf.add(tf.mul(onehot, 1 - smoothing), smoothing / k) : onehot;
    return tf.neg(tf.mean(tf.sum(tf.mul(target, logProbs), 1))) as tf.Scalar;
  });
}
