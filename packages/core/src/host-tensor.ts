/**
 * A tensor held in host memory as a typed array. State dicts use these rather than tf.Tensors so
 * that loading, saving and inspecting weights never leaks GPU or wasm memory.
 */
export type HostDType = 'float32' | 'int32';

export interface HostTensor {
  readonly dtype: HostDType;
  /** Row-major (C order) shape, PyTorch layout for weights coming from PyTorch. */
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

/** Named tensors, keyed by PyTorch state_dict names (`stages.0.blocks.0.mlp.0.weight`). */
export type StateDict = Map<string, HostTensor>;

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function hostTensor(data: Float32Array | Int32Array, shape: readonly number[]): HostTensor {
  if (data.length !== shapeSize(shape)) {
    throw new Error(`hostTensor: ${data.length} values do not fill shape [${shape.join(', ')}]`);
  }
  return { dtype: data instanceof Float32Array ? 'float32' : 'int32', shape: [...shape], data };
}
