import { tf } from '../tf.js';

/**
 * The size of the wasm backend's memory in bytes, or undefined on other backends. wasm memory
 * grows and never shrinks, so this is the high-water mark of the heap so far (what hits the 4 GiB
 * ceiling), not what live tensors hold now (`tf.memory().numBytes`).
 */
export function wasmHeapBytes(): number | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8;
  return heap?.buffer.byteLength;
}
