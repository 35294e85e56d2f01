import { tf } from '../tf.js';
import { geluGradLoop, geluLoop } from './gelu-math.js';

/**
 * Exact GELU as two kernels, forward and backward, for the backends where the composite
 * x * 0.5 * (1 + erf(x / sqrt 2)) costs several passes over memory (wasm, cpu). `gelu()` uses them
 * when the active backend has them registered, else the composite. The gradient saves only x.
 */
export const GELU_KERNEL = 'PartialnetGelu';
export const GELU_GRAD_KERNEL = 'PartialnetGeluGrad';

/** Per backend, whether its kernels are worth using now (wasm: only with its SIMD module). */
const worthUsing = new Map<string, () => boolean>();

/** True when the active backend has the fused GELU kernels and they beat the composite there. */
export function hasFusedGelu(): boolean {
  const backend = tf.getBackend();
  return tf.getKernel(GELU_KERNEL, backend) !== undefined && (worthUsing.get(backend)?.() ?? true);
}

export function assertFloat32(kernel: string, ...ts: tf.TensorInfo[]): void {
  for (const t of ts) if (t.dtype !== 'float32') throw new Error(`${kernel}: expected a float32 tensor, got ${t.dtype}`);
}

function registerGeluGradient(): void {
  if (tf.getGradient(GELU_KERNEL)) return;
  tf.registerGradient({
    kernelName: GELU_KERNEL,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({ x: () => tf.engine().runKernel(GELU_GRAD_KERNEL, { x: saved[0]!, dy: dy as tf.Tensor }) as tf.Tensor }),
  });
}

interface CpuBackendData {
  readSync(dataId: object): tf.backend_util.TypedArray | Uint8Array[];
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

function replaceKernel(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, config.backendName)) tf.unregisterKernel(config.kernelName, config.backendName);
  tf.registerKernel(config);
}

/** The cpu backend's fused GELU: JavaScript loops over its arrays. */
export function registerCpuGeluKernels(): void {
  const cpu = (backend: unknown): CpuBackendData => backend as CpuBackendData;
  registerGeluKernelsFor(
    'cpu',
    ({ inputs, backend }) => {
      const x = inputs.x as tf.TensorInfo;
      assertFloat32(GELU_KERNEL, x);
      const xs = cpu(backend).readSync(x.dataId) as Float32Array;
      const y = new Float32Array(xs.length);
      geluLoop(xs, y);
      return cpu(backend).makeTensorInfo(x.shape, 'float32', y);
    },
    ({ inputs, backend }) => {
      const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      assertFloat32(GELU_GRAD_KERNEL, x, dy);
      const xs = cpu(backend).readSync(x.dataId) as Float32Array;
      const dx = new Float32Array(xs.length);
      geluGradLoop(xs, cpu(backend).readSync(dy.dataId) as Float32Array, dx);
      return cpu(backend).makeTensorInfo(x.shape, 'float32', dx);
    },
  );
}

/**
 * Registers (or re-registers) a backend's fused GELU kernels and, once, their gradient. `use`
 * says whether `gelu()` should take them (default: always).
 */
export function registerGeluKernelsFor(backendName: string, forward: tf.KernelFunc, backward: tf.KernelFunc, use?: () => boolean): void {
  registerGeluGradient();
  if (use) worthUsing.set(backendName, use);
  else worthUsing.delete(backendName);
  replaceKernel({ kernelName: GELU_KERNEL, backendName, kernelFunc: forward });
  replaceKernel({ kernelName: GELU_GRAD_KERNEL, backendName, kernelFunc: backward });
}

export function unregisterGeluKernels(backendName: string): void {
  for (const name of [GELU_KERNEL, GELU_GRAD_KERNEL]) if (tf.getKernel(name, backendName)) tf.unregisterKernel(name, backendName);
}
