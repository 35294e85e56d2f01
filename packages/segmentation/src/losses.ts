import { tf } from '@partialnet/core';

export interface SegCrossEntropyOptions {
  ignoreIndex?: number;
  /** Divide by the non-ignored pixel count (mmseg avg_non_ignore=True) instead of all pixels (default, mmseg's). */
  avgNonIgnore?: boolean;
}

/**
 * Per-pixel softmax cross-entropy of logits [N, H, W, K] against labels [N, H, W] (int32), with
 * pixels labelled `ignoreIndex` contributing nothing, as mmseg's CrossEntropyLoss: the sum over
 * labelled pixels divided by all pixels (mmseg's default) or by the labelled ones. The label is
 * picked with a one-hot product, not a gather, because gather has no gradient on wasm.
 */
export function segCrossEntropy(logits: tf.Tensor4D, labels: tf.Tensor3D, o: SegCrossEntropyOptions = {}): tf.Scalar {
  const ignore = o.ignoreIndex ?? 255;
  const [n, h, w, k] = logits.shape;
  if (labels.shape[0] !== n || labels.shape[1] !== h || labels.shape[2] !== w) {
    throw new Error(`segCrossEntropy: logits [${logits.shape.join(', ')}] and labels [${labels.shape.join(', ')}] differ in N, H or W`);
  }
  return tf.tidy(() => {
    const flat = tf.reshape(logits, [n * h * w, k]) as tf.Tensor2D;
    const lab = tf.reshape(tf.cast(labels, 'int32'), [n * h * w]);
    const valid = tf.notEqual(lab, ignore);
    const safe = tf.where(valid, lab, tf.zerosLike(lab));
    const picked = tf.sum(tf.mul(tf.logSoftmax(flat), tf.cast(tf.oneHot(safe, k), 'float32')), 1);
    const validF = tf.cast(valid, 'float32');
    const total = tf.neg(tf.sum(tf.mul(picked, validF)));
    const denom = o.avgNonIgnore ? tf.maximum(tf.sum(validF), 1) : tf.scalar(n * h * w);
    return tf.div(total, denom) as tf.Scalar;
  });
}
