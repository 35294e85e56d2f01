import { tf } from '../tf.js';
import type { Tensor4D } from '../tf.js';
import { wasmHeap } from '../runtime/wasm-internals.js';

const KERNEL = 'PartialnetFlipFilter';

/**
 * The filter of a stride-1 convolution's input gradient: taps reversed in both spatial axes and
 * input / output channels swapped, [kh, kw, cin, cout] -> [kh, kw, cout, cin].
 *
 * On wasm this is one kernel: tfjs-backend-wasm's Reverse walks the tensor element by element
 * (~20 ms for a 3x3x256x256 filter, 66 calls in a RetinaNet step) and its Gather and Slice copy the
 * whole input out first; the loop below is ~1 ms.
 */
export function flipFilter(filter: Tensor4D): Tensor4D {
  if (tf.getBackend() === 'wasm' && tf.getKernel(KERNEL, 'wasm')) return tf.engine().runKernel(KERNEL, { x: filter }) as Tensor4D;
  return tf.tidy(() => tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]));
}

export function registerFlipFilterKernel(): void {
  if (tf.getKernel(KERNEL, 'wasm')) return;
  tf.registerKernel({
    kernelName: KERNEL,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs.x as tf.TensorInfo;
      if (x.dtype !== 'float32') throw new Error(`${KERNEL}: expected a float32 filter, got ${x.dtype}`);
      const [kh, kw, cin, cout] = x.shape as [number, number, number, number];
      const heap = wasmHeap(backend);
      const out = heap.makeOutput([kh, kw, cout, cin], 'float32');
      // views after makeOutput: an allocation can grow (and so detach) the wasm memory
      const src = new Float32Array(heap.buffer(), heap.offset(x), x.shape.reduce((a, b) => a * b, 1));
      const dst = new Float32Array(heap.buffer(), heap.offset(out), src.length);
      const tap = cin * cout;
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const s = ((kh - 1 - i) * kw + (kw - 1 - j)) * tap;
          const d = (i * kw + j) * tap;
          for (let o = 0; o < cout; o++) {
            const row = d + o * cin;
            for (let c = 0; c < cin; c++) dst[row + c] = src[s + c * cout + o]!;
          }
        }
      }
      return out;
    },
  });
}
