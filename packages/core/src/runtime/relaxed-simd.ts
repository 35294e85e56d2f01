import { assembleModule, FunctionBody, I32, SIMD } from './wasm-assembler.js';
import { webAssembly } from './webassembly.js';

/**
 * WebAssembly relaxed SIMD's f32x4.relaxed_madd (a * b + c, fused where the hardware has FMA) for
 * our matrix kernels. Plain SIMD128 has no multiply-add: a product step there is a multiply and an
 * add, and on x86 the front end, not the FP units, limits a 4x8 register tile. With the fused form
 * the same tile runs at 49-54 GFLOP/s on one Zen 4 core against 36-39 (and XNNPACK's prebuilt
 * kernels, which do not use it, at ~30). Results then differ from the unfused ones by float32
 * rounding only, and stay the same on every thread of the kernel pool.
 *
 * Runtimes with relaxed SIMD on by default (V8 11.4+: Chrome 114, Node 21+) use it as they are;
 * on Node 20 backend.ts switches V8's flag on before any kernel is compiled (see
 * enableRelaxedSimdFlag). PARTIALNET_RELAXED_SIMD=0 keeps the plain kernels.
 */
export const RELAXED_MADD = 0x105;

let probeResult: boolean | undefined;
let allowed = true;

/** A one-function module that uses relaxed_madd: valid where this runtime accepts relaxed SIMD. */
export function relaxedSimdProbe(): Uint8Array {
  const f = new FunctionBody([I32]);
  f.get(0).get(0).simd(SIMD.load).get(0).simd(SIMD.load).get(0).simd(SIMD.load).simd(RELAXED_MADD).simd(SIMD.store);
  return assembleModule([{ name: 'probe', body: f }], false);
}

/** Whether this runtime validates relaxed SIMD now (checked once, again after `recheckRelaxedSimd`). */
export function relaxedSimdSupported(): boolean {
  if (probeResult === undefined) {
    try {
      probeResult = webAssembly()?.validate(relaxedSimdProbe()) ?? false;
    } catch {
      probeResult = false;
    }
  }
  return probeResult;
}

/** After a runtime flag changed what validates (backend.ts on Node 20). */
export function recheckRelaxedSimd(): void {
  probeResult = undefined;
}

/** Whether our kernels are built with relaxed_madd: supported here and not switched off. */
export function useRelaxedSimd(): boolean {
  return allowed && relaxedSimdSupported();
}

/** Tests and PARTIALNET_RELAXED_SIMD=0: build the plain SIMD128 kernels (false) or allow relaxed_madd again. */
export function allowRelaxedSimd(allow: boolean): void {
  allowed = allow;
}
