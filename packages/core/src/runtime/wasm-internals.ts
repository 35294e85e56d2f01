import { tf } from '../tf.js';
import { webAssembly, type WasmMemory } from './webassembly.js';

/**
 * The one place that reaches into tfjs-backend-wasm's internals (4.22): our kernels for it must
 * allocate outputs on its heap and read inputs in place, which its public API does not offer
 * (`readSync` copies the whole tensor out). What is used, all of it on `BackendWasm`:
 * - `makeOutput(shape, dtype)`: allocates an output tensor on the heap (what its own kernels call);
 * - `dataIdMap.get(dataId).memoryOffset`: the byte offset of a tensor's data on the heap;
 * - `incRef(dataId)`: shares a buffer between two tensors (as its own Reshape does);
 * - `disposeData(dataId)`: frees a kernel's scratch buffer (made by `makeOutput`, never returned);
 * - `wasm.HEAPU8`: the heap as bytes (its buffer is replaced when the heap grows);
 * - the heap's `WebAssembly.Memory`, `wasm.asm.memory` (single-threaded build) or
 *   `wasm.wasmMemory` (threaded build), which our SIMD module imports.
 * `wasmHeap` checks them on every kernel call and throws, naming what is missing, rather than
 * corrupt memory; test/wasm-kernels.test.ts checks them (and that the SIMD module found the memory)
 * on the installed package, so an upgrade that renames one fails there first.
 */
interface WasmModule {
  HEAPU8: Uint8Array;
  asm?: { memory?: WasmMemory };
  wasmMemory?: WasmMemory;
}

interface BackendWasmInternals {
  wasm: WasmModule;
  dataIdMap: { get(dataId: object): { memoryOffset: number | null } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  incRef(dataId: object): void;
  disposeData(dataId: object): boolean;
}

export interface WasmHeap {
  /** A new output tensor on the heap (contents undefined). */
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  /** Byte offset of a tensor's data on the heap. */
  offset(t: tf.TensorInfo): number;
  /** The heap as it is now (take it after the last allocation: growth replaces the buffer). */
  buffer(): ArrayBuffer;
  /** The heap's memory object, when the build exposes it. */
  memory(): WasmMemory | undefined;
  /** A tensor with x's data (no copy): tensors are immutable. */
  share(x: tf.TensorInfo): tf.TensorInfo;
  /** Frees a scratch buffer made by makeOutput that no tensor holds. */
  release(t: tf.TensorInfo): void;
}

function internals(backend: unknown): BackendWasmInternals {
  return backend as BackendWasmInternals;
}

/** Why the backend object does not have the internals our kernels use, or undefined when it has. */
export function checkWasmInternals(backend: unknown): string | undefined {
  const b = internals(backend) as Partial<BackendWasmInternals> | undefined;
  if (!b || typeof b !== 'object') return 'no backend object';
  if (typeof b.makeOutput !== 'function') return 'BackendWasm.makeOutput is missing';
  if (typeof b.incRef !== 'function') return 'BackendWasm.incRef is missing';
  if (typeof b.disposeData !== 'function') return 'BackendWasm.disposeData is missing';
  if (!b.dataIdMap || typeof b.dataIdMap.get !== 'function') return 'BackendWasm.dataIdMap is missing';
  if (!b.wasm || !(b.wasm.HEAPU8 instanceof Uint8Array)) return 'BackendWasm.wasm.HEAPU8 is missing';
  return undefined;
}

/** The backend's heap; throws when the internals are not what these kernels were written against. */
export function wasmHeap(backend: unknown): WasmHeap {
  const missing = checkWasmInternals(backend);
  if (missing) throw new Error(`partialnet's tfjs-backend-wasm kernels (core/src/runtime/wasm-kernels.ts) need updating for this tfjs version: ${missing}`);
  const b = internals(backend);
  return {
    makeOutput: (shape, dtype) => b.makeOutput(shape, dtype),
    offset: (t) => {
      const offset = b.dataIdMap.get(t.dataId)?.memoryOffset;
      if (offset == null) throw new Error(`wasm kernel: tensor of shape [${t.shape.join(', ')}] has no data on the heap`);
      return offset;
    },
    buffer: () => b.wasm.HEAPU8.buffer as ArrayBuffer,
    memory: () => {
      const memory = b.wasm.asm?.memory ?? b.wasm.wasmMemory;
      const api = webAssembly();
      if (!memory || !api || !(memory instanceof api.Memory)) return undefined;
      // Only the memory whose buffer is the heap's own is the right one (a shared memory may hand
      // out a new buffer object per access: there the sizes must agree).
      const heap = b.wasm.HEAPU8.buffer;
      const same = memory.buffer === heap || (typeof SharedArrayBuffer === 'function' && heap instanceof SharedArrayBuffer && memory.buffer.byteLength === heap.byteLength);
      return same ? memory : undefined;
    },
    share: (x) => {
      b.incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
    release: (t) => {
      b.disposeData(t.dataId);
    },
  };
}
