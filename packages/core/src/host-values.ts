import { tf } from './tf.js';

/**
 * Host copies of small tensors whose values the host already knows, keyed by the tensor's data
 * (a tf.Variable gets new data on every `assign`, so a stale copy is never returned). Host control
 * flow that depends on a few tensor values (DPConv's channel split) uses them instead of a
 * synchronous read, which a GPU backend cannot do; `readHostValues` fills the cache with
 * `await data()`.
 */
const known = new WeakMap<object, Float32Array | Int32Array>();

type Values = Float32Array | Int32Array;

/** Records values the caller knows `t` holds (it just wrote them). */
export function rememberHostValues(t: tf.Tensor, values: Values): void {
  known.set(t.dataId, values);
}

/** The host copy of `t`'s current values, or undefined when they changed since the last read. */
export function knownHostValues(t: tf.Tensor): Values | undefined {
  return known.get(t.dataId);
}

/** `t`'s values on the host, read with `await data()` unless already known. */
export async function readHostValues(t: tf.Tensor): Promise<Values> {
  let v = known.get(t.dataId);
  if (!v) {
    v = (await t.data()) as Values;
    known.set(t.dataId, v);
  }
  return v;
}
