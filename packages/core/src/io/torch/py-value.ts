import type { RawTensor } from '../raw-tensor.js';

/**
 * The Python values a state-dict pickle can hold, as plain JavaScript:
 * None -> null, bool -> boolean, int -> number (bigint beyond 2^53), float -> number (see
 * `PyFloat`), str -> string, bytes -> Uint8Array, list -> array, tuple -> `PyTuple`,
 * dict / OrderedDict -> `PyDict` (keys keep their type: optimizer states use int keys),
 * torch.Tensor / nn.Parameter -> `RawTensor`, torch.device -> `PyDevice`.
 */
export type PyKey = string | number | bigint | boolean | null;
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyFloat
  | PyValue[]
  | PyTuple
  | PyDict
  | PyDevice
  | RawTensor;

/** A Python float whose value is integral (`1.0`): kept apart from ints so that writing it back stays a float. */
export class PyFloat {
  constructor(readonly value: number) {}
}

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

export class PyDict extends Map<PyKey, PyValue> {
  /** `collections.OrderedDict` rather than `dict` (PyTorch state dicts are OrderedDicts). */
  ordered = false;
}

export class PyDevice {
  constructor(readonly type: string) {}
}

export function pyDict(entries: Iterable<[PyKey, PyValue]> = [], ordered = false): PyDict {
  const d = new PyDict(entries);
  d.ordered = ordered;
  return d;
}

/** A number for display and JSON: PyFloat unwrapped. */
export function pyNumber(v: PyValue): number | undefined {
  if (typeof v === 'number') return v;
  if (v instanceof PyFloat) return v.value;
  return undefined;
}
