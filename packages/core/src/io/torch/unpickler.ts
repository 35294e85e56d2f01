import { RAW_DTYPES, RawTensor, type RawDType } from '../raw-tensor.js';
import { PyDevice, PyDict, PyFloat, PyTuple, pyDict, type PyKey, type PyValue } from './py-value.js';

/**
 * A restricted unpickler for PyTorch checkpoints, written from the pickle protocol (CPython's
 * `pickletools` documents every opcode). It knows only the globals that state dicts use and refuses
 * any other global when the pickle names it, before anything could be called: nothing in a pickle
 * is ever executed, the allowed globals are interpreted by this file.
 *
 * Allowed globals:
 * - `collections.OrderedDict` (and Lightning's `AttributeDict`, a plain dict subclass)
 * - `torch._utils._rebuild_tensor`, `_rebuild_tensor_v2`, `_rebuild_parameter`,
 *   `_rebuild_parameter_with_state`
 * - the typed storage classes `torch.FloatStorage` ... `torch.BoolStorage` (see RAW_DTYPES)
 * - `torch.device`
 *
 * Tensors come out as contiguous `RawTensor`s: strided views with storage offsets are materialised,
 * tensors that share a storage are each copied out of it, and the same tensor pickled twice (memo)
 * is the same JavaScript object twice.
 */

/** A storage as the persistent-id hook hands it back: its dtype and all of its bytes. */
export interface TorchStorage {
  readonly dtype: RawDType;
  readonly bytes: Uint8Array;
}

export class StorageType {
  constructor(readonly dtype: RawDType) {}
}

export class RefusedGlobalError extends Error {
  constructor(
    readonly global: string,
    source: string,
  ) {
    super(
      `pickle ${source}: refusing global '${global}': only state-dict globals are allowed ` +
        `(collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter, torch.*Storage, torch.device); nothing was executed`,
    );
    this.name = 'RefusedGlobalError';
  }
}

export interface UnpickleOptions {
  /** Resolves a persistent id (PyTorch's `('storage', type, key, location, numel)` tuples). */
  persistentLoad?: (pid: PyValue) => PyValue;
  /** Named in error messages. */
  source?: string;
  /** Told the offset just past STOP: PyTorch's legacy format puts several pickles back to back. */
  onStop?: (end: number) => void;
}

type Callable = (args: PyValue[], fail: (msg: string) => never) => PyValue;

class GlobalRef {
  constructor(
    readonly name: string,
    readonly call?: Callable,
    /** Classes that NEWOBJ may instantiate (dict subclasses). */
    readonly makeDict?: () => PyDict,
  ) {}
}

type StackItem = PyValue | GlobalRef | StorageType | TorchStorage;

const STORAGE_CLASSES = new Map<string, RawDType>(
  (Object.keys(RAW_DTYPES) as RawDType[]).map((d) => [`torch.${RAW_DTYPES[d].torchStorage}`, d]),
);

function isStorage(v: unknown): v is TorchStorage {
  return typeof v === 'object' && v !== null && 'dtype' in v && 'bytes' in v && !(v instanceof RawTensor);
}

function intArg(v: PyValue | undefined, what: string, fail: (m: string) => never): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  return fail(`${what} must be an int, got ${describe(v)}`);
}

function intTuple(v: PyValue | undefined, what: string, fail: (m: string) => never): number[] {
  if (!(v instanceof PyTuple) && !Array.isArray(v)) return fail(`${what} must be a tuple of ints, got ${describe(v)}`);
  const items = v instanceof PyTuple ? v.items : v;
  return items.map((x, i) => intArg(x, `${what}[${i}]`, fail));
}

/** Copies a (possibly strided) view out of its storage into contiguous bytes. */
export function materialize(storage: TorchStorage, offset: number, shape: number[], stride: number[], fail: (m: string) => never): Uint8Array {
  const size = RAW_DTYPES[storage.dtype].size;
  const storageNumel = storage.bytes.length / size;
  if (shape.length !== stride.length) fail(`size [${shape.join(', ')}] and stride [${stride.join(', ')}] differ in length`);
  let numel = 1;
  for (const d of shape) {
    if (d < 0) fail(`negative size in [${shape.join(', ')}]`);
    numel *= d;
  }
  const out = new Uint8Array(numel * size);
  if (numel === 0) return out;
  let last = offset;
  for (let i = 0; i < shape.length; i++) {
    if (stride[i]! < 0) fail(`negative stride in [${stride.join(', ')}]`);
    last += (shape[i]! - 1) * stride[i]!;
  }
  if (offset < 0 || last >= storageNumel) {
    fail(`view (offset ${offset}, size [${shape.join(', ')}], stride [${stride.join(', ')}]) reaches element ${last} of a ${storageNumel}-element storage`);
  }
  let contiguous = true;
  for (let i = shape.length - 1, expect = 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) contiguous = false;
    expect *= shape[i]!;
  }
  if (contiguous) {
    out.set(storage.bytes.subarray(offset * size, (offset + numel) * size));
    return out;
  }
  // Odometer walk over the index space, rightmost dimension fastest.
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  let src = offset;
  for (let n = 0; n < numel; n++) {
    out.set(storage.bytes.subarray(src * size, src * size + size), n * size);
    for (let d = rank - 1; d >= 0; d--) {
      index[d]!++;
      src += stride[d]!;
      if (index[d]! < shape[d]!) break;
      src -= shape[d]! * stride[d]!;
      index[d] = 0;
    }
  }
  return out;
}

function rebuildTensor(args: PyValue[], fail: (m: string) => never): RawTensor {
  const storage = args[0] as unknown;
  if (!isStorage(storage)) return fail(`_rebuild_tensor: the first argument is not a storage (${describe(args[0])})`);
  const offset = intArg(args[1], 'storage_offset', fail);
  const shape = intTuple(args[2], 'size', fail);
  const stride = intTuple(args[3], 'stride', fail);
  const requiresGrad = args[4] === true;
  return new RawTensor(storage.dtype, shape, materialize(storage, offset, shape, stride, fail), requiresGrad);
}

function rebuildParameter(args: PyValue[], fail: (m: string) => never): RawTensor {
  const data = args[0];
  if (!(data instanceof RawTensor)) return fail(`_rebuild_parameter: data is not a tensor (${describe(data)})`);
  return new RawTensor(data.dtype, data.shape, data.bytes, args[1] === true, true);
}

const ALLOWED = new Map<string, GlobalRef>();
function allow(name: string, call?: Callable, makeDict?: () => PyDict): void {
  ALLOWED.set(name, new GlobalRef(name, call, makeDict));
}
allow('collections.OrderedDict', (args, fail) => {
  if (args.length > 0) fail('OrderedDict(...) with arguments is not supported');
  return pyDict([], true);
}, () => pyDict([], true));
for (const name of ['pytorch_lightning.utilities.parsing.AttributeDict', 'lightning.fabric.utilities.data.AttributeDict', 'lightning_fabric.utilities.data.AttributeDict']) {
  allow(name, undefined, () => pyDict());
}
allow('torch._utils._rebuild_tensor', rebuildTensor);
allow('torch._utils._rebuild_tensor_v2', rebuildTensor);
allow('torch._utils._rebuild_parameter', rebuildParameter);
allow('torch._utils._rebuild_parameter_with_state', rebuildParameter);
allow('torch.device', (args, fail) => {
  const [type, index] = args;
  if (typeof type !== 'string') return fail(`torch.device: expected a string, got ${describe(type)}`);
  return new PyDevice(index === undefined || index === null ? type : `${type}:${String(index)}`);
});

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (v instanceof GlobalRef) return `global ${v.name}`;
  if (v instanceof RawTensor) return `tensor ${v.dtype} [${v.shape.join(', ')}]`;
  if (v instanceof PyTuple) return `tuple of ${v.items.length}`;
  if (v instanceof PyDict) return `dict of ${v.size}`;
  if (Array.isArray(v)) return `list of ${v.length}`;
  if (v instanceof StorageType) return `storage type ${v.dtype}`;
  if (isStorage(v)) return `${v.dtype} storage`;
  return typeof v;
}

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): PyValue {
  const source = options.source ?? '<pickle>';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: StackItem[] = [];
  const marks: number[] = [];
  const memo = new Map<number, StackItem>();
  let pos = 0;
  let opPos = 0;

  const fail = (msg: string): never => {
    throw new Error(`pickle ${source}: at byte ${opPos}: ${msg}`);
  };
  const need = (n: number): number => {
    if (pos + n > bytes.length) fail('unexpected end of data (truncated pickle)');
    const p = pos;
    pos += n;
    return p;
  };
  const u8 = (): number => bytes[need(1)]!;
  const u16 = (): number => view.getUint16(need(2), true);
  const u32 = (): number => view.getUint32(need(4), true);
  const u64 = (): number => {
    const v = view.getBigUint64(need(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} is too large`);
    return Number(v);
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated text argument');
    const s = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const take = (n: number): Uint8Array => bytes.subarray(need(n), pos);
  const text = (n: number): string => {
    const raw = take(n);
    try {
      return utf8.decode(raw);
    } catch {
      return fail('string is not valid UTF-8');
    }
  };
  const pop = (): StackItem => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]!)) fail('stack underflow');
    return stack.pop()!;
  };
  const top = (): StackItem => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1]!;
  };
  const popMark = (): StackItem[] => {
    const m = marks.pop();
    if (m === undefined) fail('no MARK on the stack');
    return stack.splice(m!);
  };
  const value = (v: StackItem, what: string): PyValue => {
    if (v instanceof GlobalRef || v instanceof StorageType || isStorage(v)) fail(`${what} cannot be ${describe(v)}`);
    return v as PyValue;
  };
  const key = (v: StackItem): PyKey => {
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return v;
    if (v instanceof PyFloat) return v.value;
    return fail(`unsupported dict key ${describe(v)}`);
  };
  const setItems = (target: StackItem, items: StackItem[]): void => {
    if (!(target instanceof PyDict)) fail(`SETITEM(S) on ${describe(target)}`);
    if (items.length % 2 !== 0) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (target as PyDict).set(key(items[i]!), value(items[i + 1]!, 'a dict value'));
  };
  const appendItems = (target: StackItem, items: StackItem[]): void => {
    if (!Array.isArray(target)) fail(`APPEND(S) on ${describe(target)}`);
    for (const item of items) (target as PyValue[]).push(value(item, 'a list item'));
  };
  const pushInt = (v: bigint): void => {
    stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
  };
  const pushFloat = (v: number): void => {
    stack.push(Number.isInteger(v) ? new PyFloat(v) : v);
  };
  const longLE = (b: Uint8Array): bigint => {
    if (b.length === 0) return 0n;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v;
  };
  const findGlobal = (module: string, name: string): GlobalRef | StorageType => {
    const full = `${module}.${name}`;
    const dtype = STORAGE_CLASSES.get(full);
    if (dtype) return new StorageType(dtype);
    const ref = ALLOWED.get(full);
    if (!ref) throw new RefusedGlobalError(full, source);
    return ref;
  };
  const persistent = (pid: StackItem): void => {
    if (!options.persistentLoad) fail('persistent id without a loader (a tensor storage outside a checkpoint?)');
    stack.push(options.persistentLoad!(pid as PyValue) as StackItem);
  };

  for (;;) {
    opPos = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('pickle protocol above 5');
        break;
      case 0x95: // FRAME: framing is only a buffering hint
        u64();
        break;
      case 0x2e: { // STOP
        const result = value(pop(), 'the pickled object');
        options.onStop?.(pos);
        return result;
      }
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (marks.length > 0 && marks[marks.length - 1] === stack.length) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(view.getInt32(need(4), true));
        break;
      case 0x8a: // LONG1
        pushInt(longLE(take(u8())));
        break;
      case 0x8b: { // LONG4
        const n = view.getInt32(need(4), true);
        if (n < 0) fail('negative LONG4 length');
        pushInt(longLE(take(n)));
        break;
      }
      case 0x49: { // INT (text); protocol 0 writes bools as I01 / I00
        const s = line();
        if (s === '01') stack.push(true);
        else if (s === '00') stack.push(false);
        else if (/^[-+]?\d+$/.test(s)) pushInt(BigInt(s));
        else fail(`bad INT '${s}'`);
        break;
      }
      case 0x4c: { // LONG (text)
        const s = line().replace(/L$/, '');
        if (!/^[-+]?\d+$/.test(s)) fail(`bad LONG '${s}'`);
        pushInt(BigInt(s));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        pushFloat(view.getFloat64(need(8), false));
        break;
      case 0x46: { // FLOAT (text)
        const v = Number(line());
        if (Number.isNaN(v)) fail('bad FLOAT');
        pushFloat(v);
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x56: // UNICODE (raw-unicode-escape text)
        stack.push(line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, a: string, b: string) => String.fromCodePoint(parseInt(a ?? b, 16))));
        break;
      case 0x54: // BINSTRING (Python 2 str, decoded as latin-1)
        stack.push(latin1.decode(take(view.getInt32(need(4), true))));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(take(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()).slice());
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(pyDict());
        break;
      case 0x64: { // DICT
        const d = pyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: { // LIST
        const l: PyValue[] = [];
        appendItems(l, popMark());
        stack.push(l);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x74: // TUPLE
        // Tuples may hold storage types and storages: PyTorch's persistent ids are such tuples.
        stack.push(new PyTuple(popMark() as PyValue[]));
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: { // TUPLE3
        const n = op - 0x84;
        const items: StackItem[] = [];
        for (let i = 0; i < n; i++) items.unshift(pop());
        stack.push(new PyTuple(items as PyValue[]));
        break;
      }
      case 0x70: // PUT
        memo.set(Number(line()), top());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67: // GET
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const i = op === 0x67 ? Number(line()) : op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo key ${i} was never stored`);
        stack.push(memo.get(i)!);
        break;
      }
      case 0x63: { // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        stack.push(findGlobal(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(findGlobal(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const callable = pop();
        if (!(args instanceof PyTuple)) fail(`REDUCE arguments are ${describe(args)}, not a tuple`);
        if (!(callable instanceof GlobalRef) || !callable.call) fail(`REDUCE cannot call ${describe(callable)}`);
        stack.push((callable as GlobalRef).call!((args as PyTuple).items, fail) as StackItem);
        break;
      }
      case 0x81: { // NEWOBJ cls.__new__(cls, *args)
        const args = pop();
        const cls = pop();
        if (!(cls instanceof GlobalRef) || !cls.makeDict) fail(`NEWOBJ cannot instantiate ${describe(cls)}`);
        if (!(args instanceof PyTuple) || args.items.length > 0) fail('NEWOBJ with arguments is not supported');
        stack.push((cls as GlobalRef).makeDict!());
        break;
      }
      case 0x62: { // BUILD: only instance attributes of dicts (OrderedDict._metadata) and tensors
        const state = pop();
        const target = top();
        if (!(target instanceof PyDict) && !(target instanceof RawTensor)) fail(`BUILD on ${describe(target)}`);
        // State dicts carry `_metadata` (module versions) here; torch's own loader uses it only to
        // upgrade very old BatchNorm entries. It is dropped.
        break;
      }
      case 0x50: // PERSID (text)
        persistent(line());
        break;
      case 0x51: // BINPERSID
        persistent(pop());
        break;
      case 0x8f: // EMPTY_SET
      case 0x90: // ADDITEMS
      case 0x91: // FROZENSET
        fail('sets are not supported in state dicts');
        break;
      case 0x69: // INST
      case 0x6f: // OBJ
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
      case 0x92: // NEWOBJ_EX
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        fail(`opcode 0x${op.toString(16)} is refused (it builds arbitrary objects or out-of-band buffers)`);
        break;
      default:
        fail(`unknown opcode 0x${op.toString(16)}`);
    }
  }
}
