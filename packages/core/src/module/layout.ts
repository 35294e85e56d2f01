import type { HostTensor } from '../host-tensor.js';

/**
 * How a tensor is laid out here compared with PyTorch. Models run NHWC, so conv filters are HWIO
 * and linear weights [in, out]; state dicts always use PyTorch's OIHW and [out, in].
 */
export type TorchLayout = 'same' | 'conv' | 'linear';

const CONV_TO_TORCH = [3, 2, 0, 1]; // HWIO -> OIHW
const CONV_FROM_TORCH = [2, 3, 1, 0]; // OIHW -> HWIO

/** Permutes a row-major host array: result dims are `shape[perm[i]]`. */
export function permuteHost(t: HostTensor, perm: readonly number[]): HostTensor {
  const rank = t.shape.length;
  if (perm.length !== rank) throw new Error(`permuteHost: perm of length ${perm.length} for rank ${rank}`);
  const outShape = perm.map((p) => t.shape[p]!);
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) {
    inStrides[d] = s;
    s *= t.shape[d]!;
  }
  const strideForOut = perm.map((p) => inStrides[p]!);
  const out = t.data instanceof Float32Array ? new Float32Array(t.data.length) : new Int32Array(t.data.length);
  const index = new Array<number>(rank).fill(0);
  let src = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = t.data[src]!;
    // Odometer increment over the output dims, tracking the source offset incrementally.
    for (let d = rank - 1; d >= 0; d--) {
      index[d]!++;
      src += strideForOut[d]!;
      if (index[d]! < outShape[d]!) break;
      src -= strideForOut[d]! * outShape[d]!;
      index[d] = 0;
    }
  }
  return { dtype: t.dtype, shape: outShape, data: out };
}

export function toTorchLayout(t: HostTensor, layout: TorchLayout): HostTensor {
  if (layout === 'conv') return permuteHost(t, CONV_TO_TORCH);
  if (layout === 'linear') return permuteHost(t, [1, 0]);
  return t;
}

export function fromTorchLayout(t: HostTensor, layout: TorchLayout): HostTensor {
  if (layout === 'conv') return permuteHost(t, CONV_FROM_TORCH);
  if (layout === 'linear') return permuteHost(t, [1, 0]);
  return t;
}

/** The PyTorch shape of a tensor whose local shape is `shape`. */
export function torchShape(shape: readonly number[], layout: TorchLayout): number[] {
  if (layout === 'conv') return CONV_TO_TORCH.map((p) => shape[p]!);
  if (layout === 'linear') return [shape[1]!, shape[0]!];
  return [...shape];
}
