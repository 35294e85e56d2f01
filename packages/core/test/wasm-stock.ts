import { registerWasmKernelOverrides, restoreStockWasmKernels } from '../src/runtime/wasm-kernels.js';

/** Runs `fn` with tfjs-backend-wasm's stock kernels (the reference the overrides are held to), then puts the overrides back. */
export function withStock<T>(fn: () => T): T {
  restoreStockWasmKernels();
  try {
    return fn();
  } finally {
    registerWasmKernelOverrides();
  }
}
