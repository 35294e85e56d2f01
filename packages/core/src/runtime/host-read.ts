import { tf } from '../tf.js';

/**
 * Whether the active backend keeps tensors in host memory (cpu, wasm), where a synchronous read
 * is a copy and nothing waits on a device. Code that must read values in the middle of a
 * synchronous computation (inside a gradient tape) may do so there, and only there.
 */
export function isHostMemoryBackend(): boolean {
  const name = tf.getBackend();
  return name === 'cpu' || name === 'wasm';
}

/** Reads `t` synchronously on a host-memory backend; elsewhere an error naming the async path. */
export function readHostSync<D extends tf.DataType>(t: tf.Tensor, what: string): tf.DataTypeMap[D] {
  if (!isHostMemoryBackend()) throw new Error(`${what}: a synchronous read needs a host-memory backend (cpu, wasm), not ${tf.getBackend()}; use the async path`);
  return t.dataSync() as tf.DataTypeMap[D];
}
