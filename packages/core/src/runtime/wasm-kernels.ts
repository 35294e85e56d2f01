import { tf } from '../tf.js';
import { registerFlipFilterKernel } from '../ops/flip-filter.js';

/**
 * Kernel overrides for tfjs-backend-wasm.
 *
 * Identity: tfjs saves every tensor a gradient needs with `keep(clone(t))`, and clone runs the
 * Identity kernel. The wasm kernel allocates and copies the whole buffer, so under a gradient
 * tape each saved activation existed twice (and training steps spent time copying them); the cpu
 * backend shares the data. Tensors are immutable, so sharing is safe: this one takes a reference
 * the way wasm's own Reshape does.
 */
export function registerWasmKernelOverrides(): void {
  registerFlipFilterKernel();
  if (tf.getKernel('Identity', 'wasm')) tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    kernelName: 'Identity',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs.x as tf.TensorInfo;
      (backend as unknown as { incRef(dataId: unknown): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
}
