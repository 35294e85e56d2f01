import { RawTensor } from '../raw-tensor.js';
import { PyDevice, PyDict, PyFloat, PyTuple, pyDict, type PyValue } from './py-value.js';

/** A nested checkpoint flattened: keys joined with `/` (`state_dict/backbone.conv.weight`, `optimizer_states/0/state/3/exp_avg`). */
export interface FlatCheckpoint {
  tensors: Map<string, RawTensor>;
  /** Numbers, strings, booleans, None, devices; empty containers leave nothing. */
  leaves: Map<string, null | boolean | number | bigint | string | PyFloat | PyDevice | Uint8Array>;
}

export function flattenCheckpoint(value: PyValue, separator = '/'): FlatCheckpoint {
  const flat: FlatCheckpoint = { tensors: new Map(), leaves: new Map() };
  const walk = (v: PyValue, path: string): void => {
    const child = (k: string | number | bigint | boolean | null): string => (path === '' ? String(k) : `${path}${separator}${String(k)}`);
    if (v instanceof RawTensor) flat.tensors.set(path, v);
    else if (v instanceof PyDict) for (const [k, x] of v) walk(x, child(k));
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, child(i)));
    else if (v instanceof PyTuple) v.items.forEach((x, i) => walk(x, child(i)));
    else flat.leaves.set(path, v);
  };
  walk(value, '');
  return flat;
}

/** Where a checkpoint's model weights live, tried in order: mmdet / Lightning, then common trainers' choices. */
const STATE_DICT_ENTRIES = ['state_dict', 'model', 'model_state_dict', 'module'] as const;

export interface FoundStateDict {
  tensors: Map<string, RawTensor>;
  /** The entry it came from (`state_dict`), or '' when the file is a plain state dict. */
  entry: string;
}

/**
 * The model state dict of a checkpoint: a plain state dict (every value a tensor), or the
 * `state_dict` entry of an mmdetection `{meta, state_dict, optimizer}` / Lightning checkpoint (also
 * `model`, `model_state_dict`, `module`). Non-tensor values inside it are ignored.
 */
export function findStateDict(value: PyValue, source = '<checkpoint>'): FoundStateDict {
  if (!(value instanceof PyDict)) throw new Error(`${source}: the checkpoint is ${describe(value)}, not a dict`);
  const tensorsOf = (d: PyDict): Map<string, RawTensor> => {
    const out = new Map<string, RawTensor>();
    for (const [k, v] of d) if (v instanceof RawTensor) out.set(String(k), v);
    return out;
  };
  const values = [...value.values()];
  if (values.length > 0 && values.every((v) => v instanceof RawTensor)) return { tensors: tensorsOf(value), entry: '' };
  for (const entry of STATE_DICT_ENTRIES) {
    const v = value.get(entry);
    if (v instanceof PyDict && [...v.values()].some((x) => x instanceof RawTensor)) return { tensors: tensorsOf(v), entry };
  }
  const keys = [...value.keys()].slice(0, 12).map(String).join(', ');
  throw new Error(`${source}: no state dict found (top-level keys: ${keys}; expected tensors at the top level or under ${STATE_DICT_ENTRIES.join(' / ')})`);
}

function describe(v: PyValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof PyTuple) return 'a tuple';
  if (v instanceof RawTensor) return 'a single tensor';
  return typeof v;
}

export interface RenameOptions {
  /** Removed from every name that starts with it (names without it are kept unchanged). */
  stripPrefix?: string;
  /** Put in front of every name (after stripping). */
  addPrefix?: string;
}

export function renameTensors<T>(dict: ReadonlyMap<string, T>, options: RenameOptions): Map<string, T> {
  const out = new Map<string, T>();
  for (const [name, t] of dict) {
    let n = name;
    if (options.stripPrefix && n.startsWith(options.stripPrefix)) n = n.slice(options.stripPrefix.length);
    if (options.addPrefix) n = options.addPrefix + n;
    if (out.has(n)) throw new Error(`renaming makes two tensors '${n}'`);
    out.set(n, t);
  }
  return out;
}

/** Drops the `module.` that DataParallel / DistributedDataParallel put in front of every name. */
export function stripDataParallelPrefix<T>(dict: ReadonlyMap<string, T>): Map<string, T> {
  const names = [...dict.keys()];
  if (names.length === 0 || !names.every((n) => n.startsWith('module.'))) return new Map(dict);
  return renameTensors(dict, { stripPrefix: 'module.' });
}

/** A state dict as PyTorch writes one: an OrderedDict of tensors. */
export function stateDictToPy(dict: ReadonlyMap<string, RawTensor>): PyDict {
  return pyDict(dict, true);
}
