import { tf } from './deps.js';

// Reads for tests that run on every backend: GPU backends cannot download synchronously in Node
// (tfjs-backend-webgpu's dataSync needs an OffscreenCanvas), so everything is read with data().

export async function values(t: tf.Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

export async function scalarOf(t: tf.Tensor): Promise<number> {
  return (await t.data())[0]!;
}

/** max |a - b|. */
export async function maxDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
  const v = await scalarOf(d);
  d.dispose();
  return v;
}

/**
 * max |a - b| / max |b|: freshly initialised weights (std 0.02) leave deep maps and logits near
 * 1e-2, where an absolute bar would pass anything.
 */
export async function relDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const d = tf.tidy(() => tf.stack([tf.max(tf.abs(tf.sub(a, b))), tf.max(tf.abs(b))]));
  const [diff, scale] = await d.data();
  d.dispose();
  return diff! / scale!;
}
