/**
 * The parts of the WebAssembly JavaScript API used by the wasm kernels: core compiles without the
 * DOM library, which is where TypeScript declares them.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}

export interface WebAssemblyApi {
  Memory: abstract new (...args: never[]) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
  validate(bytes: Uint8Array): boolean;
}

/** The runtime's WebAssembly object, when it has one. */
export function webAssembly(): WebAssemblyApi | undefined {
  return (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
}

/** Whether `memory` is shared (tfjs-backend-wasm's threaded build): a module that imports it must say so. */
export function isSharedMemory(memory: WasmMemory): boolean {
  return typeof SharedArrayBuffer === 'function' && memory.buffer instanceof SharedArrayBuffer;
}

/**
 * The exports of the module `binaryFor(shared)` instantiated on `memory` (its one import,
 * `env.memory`), or undefined where this runtime cannot: no WebAssembly, or a module it rejects
 * (no SIMD).
 */
export function instantiateOnMemory(memory: WasmMemory, binaryFor: (shared: boolean) => Uint8Array): Record<string, unknown> | undefined {
  const api = webAssembly();
  if (!api) return undefined;
  try {
    return new api.Instance(new api.Module(binaryFor(isSharedMemory(memory))), { env: { memory } }).exports;
  } catch {
    return undefined;
  }
}

/**
 * `make(memory)` once per memory (null remembered as "cannot"): the kernels each generated
 * module instantiates on the tfjs-backend-wasm heap.
 */
export function perMemory<T>(make: (memory: WasmMemory) => T | undefined): (memory: WasmMemory) => T | undefined {
  const made = new WeakMap<WasmMemory, T | null>();
  return (memory) => {
    let value = made.get(memory);
    if (value === undefined) {
      value = make(memory) ?? null;
      made.set(memory, value);
    }
    return value ?? undefined;
  };
}
