import { hostTensor, shapeSize, type HostTensor } from '../host-tensor.js';

/**
 * A tensor exactly as a file stores it: dtype, shape and contiguous little-endian bytes. Used by the
 * checkpoint converters (PyTorch, safetensors) so that converting a file keeps every dtype and every
 * bit; `toHostTensor` turns it into the float32 / int32 form the models load.
 */
export type RawDType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export interface RawDTypeInfo {
  /** Bytes per element. */
  size: number;
  /** PyTorch's legacy storage class (`torch.FloatStorage`), as pickles name it. */
  torchStorage: string;
  /** The safetensors dtype code. */
  safetensors: string;
}

export const RAW_DTYPES: Readonly<Record<RawDType, RawDTypeInfo>> = {
  float32: { size: 4, torchStorage: 'FloatStorage', safetensors: 'F32' },
  float16: { size: 2, torchStorage: 'HalfStorage', safetensors: 'F16' },
  bfloat16: { size: 2, torchStorage: 'BFloat16Storage', safetensors: 'BF16' },
  float64: { size: 8, torchStorage: 'DoubleStorage', safetensors: 'F64' },
  int64: { size: 8, torchStorage: 'LongStorage', safetensors: 'I64' },
  int32: { size: 4, torchStorage: 'IntStorage', safetensors: 'I32' },
  int16: { size: 2, torchStorage: 'ShortStorage', safetensors: 'I16' },
  int8: { size: 1, torchStorage: 'CharStorage', safetensors: 'I8' },
  uint8: { size: 1, torchStorage: 'ByteStorage', safetensors: 'U8' },
  bool: { size: 1, torchStorage: 'BoolStorage', safetensors: 'BOOL' },
};

export class RawTensor {
  constructor(
    readonly dtype: RawDType,
    readonly shape: readonly number[],
    /** Contiguous row-major bytes, little-endian; length = numel x element size. */
    readonly bytes: Uint8Array,
    /** PyTorch's `requires_grad` flag and whether it was an `nn.Parameter` (kept for round trips). */
    readonly requiresGrad = false,
    readonly isParameter = false,
  ) {
    const expected = shapeSize(shape) * RAW_DTYPES[dtype].size;
    if (bytes.length !== expected) {
      throw new Error(`RawTensor: ${bytes.length} bytes do not fill ${dtype} [${shape.join(', ')}] (${expected} bytes)`);
    }
  }

  get numel(): number {
    return shapeSize(this.shape);
  }
}

export function isRawDType(v: string): v is RawDType {
  return Object.prototype.hasOwnProperty.call(RAW_DTYPES, v);
}

export function rawDTypeFromSafetensors(code: string): RawDType | undefined {
  return (Object.keys(RAW_DTYPES) as RawDType[]).find((d) => RAW_DTYPES[d].safetensors === code);
}

/** An aligned copy: HostTensors never alias a file buffer that a caller may reuse. */
function copyBuffer(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy.buffer;
}

/** float32 / int32 for the models: floats widen or narrow to float32, integers and bools to int32. */
export function toHostTensor(t: RawTensor, name = '<tensor>'): HostTensor {
  const n = t.numel;
  switch (t.dtype) {
    case 'float32':
      return hostTensor(new Float32Array(copyBuffer(t.bytes)), t.shape);
    case 'int32':
      return hostTensor(new Int32Array(copyBuffer(t.bytes)), t.shape);
    case 'float64':
      return hostTensor(Float32Array.from(new Float64Array(copyBuffer(t.bytes))), t.shape);
    case 'float16': {
      const src = new Uint16Array(copyBuffer(t.bytes));
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(src[i]!);
      return hostTensor(out, t.shape);
    }
    case 'bfloat16': {
      const src = new Uint16Array(copyBuffer(t.bytes));
      const out = new Float32Array(n);
      // bfloat16 is the top half of a float32.
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = src[i]! << 16;
      return hostTensor(out, t.shape);
    }
    case 'int64': {
      const src = new BigInt64Array(copyBuffer(t.bytes));
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = src[i]!;
        if (v > 2147483647n || v < -2147483648n) throw new Error(`tensor '${name}': int64 value ${v} at index ${i} does not fit in int32`);
        out[i] = Number(v);
      }
      return hostTensor(out, t.shape);
    }
    case 'int16':
      return hostTensor(Int32Array.from(new Int16Array(copyBuffer(t.bytes))), t.shape);
    case 'int8':
      return hostTensor(Int32Array.from(new Int8Array(copyBuffer(t.bytes))), t.shape);
    case 'uint8':
    case 'bool':
      return hostTensor(Int32Array.from(t.bytes), t.shape);
  }
}

/** The inverse of `toHostTensor` for what models produce: float32 and int32 keep their bits. */
export function fromHostTensor(t: HostTensor): RawTensor {
  const bytes = new Uint8Array(t.data.byteLength);
  bytes.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return new RawTensor(t.dtype, t.shape, bytes);
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}
