import { RAW_DTYPES, RawTensor } from '../raw-tensor.js';
import { PyDevice, PyDict, PyFloat, PyTuple, type PyKey, type PyValue } from './py-value.js';

/**
 * Writes a `PyValue` as protocol-2 pickle the way PyTorch's `torch.save` does (CPython's pickler
 * with a `persistent_id` hook), using only the opcodes that `torch.load(weights_only=True)` accepts:
 * BINUNICODE strings, BININT1/BININT2/BININT/LONG1 ints, BINFLOAT, NEWTRUE/NEWFALSE, NONE,
 * EMPTY_DICT + SETITEM(S), EMPTY_LIST + APPEND(S), EMPTY_TUPLE / TUPLE1-3 / MARK..TUPLE,
 * GLOBAL + REDUCE, BINPUT/BINGET memo, BINPERSID.
 *
 * Every tensor becomes `torch._utils._rebuild_tensor_v2(storage, 0, size, stride, requires_grad,
 * OrderedDict())` over a storage of its own (`('storage', torch.FloatStorage, key, 'cpu', numel)`),
 * parameters are wrapped in `_rebuild_parameter`. The same tensor object twice is written once and
 * referenced from the memo, as CPython does. Strings are memoised by value (CPython memoises by
 * object identity, so it repeats equal strings that are distinct objects; both read back the same).
 */

const BATCH = 1000; // CPython's batch size for SETITEMS / APPENDS

class ByteSink {
  private buf = new Uint8Array(1 << 16);
  length = 0;
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.length++] = b;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  u16(v: number): void {
    this.byte(v & 0xff);
    this.byte((v >>> 8) & 0xff);
  }
  u32(v: number): void {
    this.ensure(4);
    new DataView(this.buf.buffer).setUint32(this.length, v, true);
    this.length += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    new DataView(this.buf.buffer).setInt32(this.length, v, true);
    this.length += 4;
  }
  f64be(v: number): void {
    this.ensure(8);
    new DataView(this.buf.buffer).setFloat64(this.length, v, false);
    this.length += 8;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

export interface PickledCheckpoint {
  pickle: Uint8Array;
  /** Storage bytes by key, in key order ('0', '1', ...). */
  storages: Array<{ key: string; bytes: Uint8Array }>;
}

/** Pickles `value`; tensors go out of band as storages, as `torch.save` lays them out. */
export function pickleCheckpoint(value: PyValue): PickledCheckpoint {
  const out = new ByteSink();
  const memo = new Map<unknown, number>();
  const storages: PickledCheckpoint['storages'] = [];
  const encoder = new TextEncoder();

  const put = (key: unknown): void => {
    const i = memo.size;
    memo.set(key, i);
    if (i < 256) {
      out.byte(0x71); // BINPUT
      out.byte(i);
    } else {
      out.byte(0x72); // LONG_BINPUT
      out.u32(i);
    }
  };
  const get = (key: unknown): boolean => {
    const i = memo.get(key);
    if (i === undefined) return false;
    if (i < 256) {
      out.byte(0x68); // BINGET
      out.byte(i);
    } else {
      out.byte(0x6a); // LONG_BINGET
      out.u32(i);
    }
    return true;
  };
  // Memo keys for values compared by value live in their own namespaces.
  const stringKey = (s: string): string => `s:${s}`;
  const globalKey = (g: string): string => `g:${g}`;

  const saveGlobal = (module: string, name: string): void => {
    if (get(globalKey(`${module}.${name}`))) return;
    out.byte(0x63); // GLOBAL
    out.bytes(encoder.encode(`${module}\n${name}\n`));
    put(globalKey(`${module}.${name}`));
  };
  const saveString = (s: string): void => {
    if (get(stringKey(s))) return;
    const b = encoder.encode(s);
    out.byte(0x58); // BINUNICODE
    out.u32(b.length);
    out.bytes(b);
    put(stringKey(s));
  };
  const saveInt = (v: number | bigint): void => {
    if (typeof v === 'number' && !Number.isSafeInteger(v)) v = BigInt(v);
    if (typeof v === 'number') {
      if (v >= 0 && v <= 0xff) {
        out.byte(0x4b); // BININT1
        out.byte(v);
        return;
      }
      if (v >= 0 && v <= 0xffff) {
        out.byte(0x4d); // BININT2
        out.u16(v);
        return;
      }
      if (v >= -0x80000000 && v <= 0x7fffffff) {
        out.byte(0x4a); // BININT
        out.i32(v);
        return;
      }
      v = BigInt(v);
    }
    // LONG1: minimal two's-complement little-endian bytes.
    const bytes: number[] = [];
    let x = v;
    for (;;) {
      bytes.push(Number(x & 0xffn));
      x >>= 8n;
      const sign = bytes[bytes.length - 1]! & 0x80;
      if ((x === 0n && !sign) || (x === -1n && sign)) break;
    }
    out.byte(0x8a);
    out.byte(bytes.length);
    out.bytes(Uint8Array.from(bytes));
  };
  const saveFloat = (v: number): void => {
    out.byte(0x47); // BINFLOAT
    out.f64be(v);
  };
  const saveTupleItems = (items: readonly (() => void)[], memoKey?: unknown): void => {
    if (items.length === 0) {
      out.byte(0x29); // EMPTY_TUPLE
      return;
    }
    if (items.length <= 3) {
      for (const f of items) f();
      out.byte(0x84 + items.length); // TUPLE1..3
    } else {
      out.byte(0x28); // MARK
      for (const f of items) f();
      out.byte(0x74); // TUPLE
    }
    put(memoKey ?? {});
  };
  const saveKey = (k: PyKey): void => save(k);
  const saveDictItems = (d: PyDict): void => {
    const entries = [...d.entries()];
    for (let i = 0; i < entries.length; i += BATCH) {
      const chunk = entries.slice(i, i + BATCH);
      if (chunk.length === 1) {
        saveKey(chunk[0]![0]);
        save(chunk[0]![1]);
        out.byte(0x73); // SETITEM
      } else {
        out.byte(0x28); // MARK
        for (const [k, v] of chunk) {
          saveKey(k);
          save(v);
        }
        out.byte(0x75); // SETITEMS
      }
    }
  };
  const saveEmptyOrderedDict = (): void => {
    saveGlobal('collections', 'OrderedDict');
    out.byte(0x29); // EMPTY_TUPLE
    out.byte(0x52); // REDUCE
    put({});
  };
  const saveTensor = (t: RawTensor): void => {
    const info = RAW_DTYPES[t.dtype];
    const key = String(storages.length);
    storages.push({ key, bytes: t.bytes });
    const stride: number[] = [];
    for (let i = t.shape.length - 1, s = 1; i >= 0; i--) {
      stride.unshift(s);
      s *= t.shape[i]!;
    }
    const rebuildTensor = (): void => {
      saveGlobal('torch._utils', '_rebuild_tensor_v2');
      saveTupleItems([
        () => {
          // The persistent id, then BINPERSID.
          saveTupleItems([
            () => saveString('storage'),
            () => saveGlobal('torch', info.torchStorage),
            () => saveString(key),
            () => saveString('cpu'),
            () => saveInt(t.numel),
          ]);
          out.byte(0x51); // BINPERSID
        },
        () => saveInt(0),
        () => saveTupleItems(t.shape.map((d) => () => saveInt(d))),
        () => saveTupleItems(stride.map((d) => () => saveInt(d))),
        () => out.byte(t.requiresGrad && !t.isParameter ? 0x88 : 0x89),
        saveEmptyOrderedDict,
      ]);
      out.byte(0x52); // REDUCE
    };
    if (t.isParameter) {
      saveGlobal('torch._utils', '_rebuild_parameter');
      saveTupleItems([
        () => {
          rebuildTensor();
          put({});
        },
        () => out.byte(t.requiresGrad ? 0x88 : 0x89),
        saveEmptyOrderedDict,
      ]);
      out.byte(0x52); // REDUCE
    } else {
      rebuildTensor();
    }
    put(t);
  };

  function save(v: PyValue): void {
    if (v === null) {
      out.byte(0x4e); // NONE
    } else if (typeof v === 'boolean') {
      out.byte(v ? 0x88 : 0x89);
    } else if (typeof v === 'number') {
      if (Number.isInteger(v)) saveInt(v);
      else saveFloat(v);
    } else if (typeof v === 'bigint') {
      saveInt(v);
    } else if (typeof v === 'string') {
      saveString(v);
    } else if (v instanceof PyFloat) {
      saveFloat(v.value);
    } else if (get(v)) {
      // already written: referenced from the memo
    } else if (v instanceof RawTensor) {
      saveTensor(v);
    } else if (v instanceof PyDict) {
      if (v.ordered) {
        saveGlobal('collections', 'OrderedDict');
        out.byte(0x29); // EMPTY_TUPLE
        out.byte(0x52); // REDUCE
      } else {
        out.byte(0x7d); // EMPTY_DICT
      }
      put(v);
      saveDictItems(v);
    } else if (Array.isArray(v)) {
      out.byte(0x5d); // EMPTY_LIST
      put(v);
      for (let i = 0; i < v.length; i += BATCH) {
        const chunk = v.slice(i, i + BATCH);
        if (chunk.length === 1) {
          save(chunk[0]!);
          out.byte(0x61); // APPEND
        } else {
          out.byte(0x28); // MARK
          for (const item of chunk) save(item);
          out.byte(0x65); // APPENDS
        }
      }
    } else if (v instanceof PyTuple) {
      saveTupleItems(v.items.map((item) => () => save(item)), v);
    } else if (v instanceof PyDevice) {
      saveGlobal('torch', 'device');
      saveTupleItems([() => saveString(v.type)]);
      out.byte(0x52); // REDUCE
      put(v);
    } else if (v instanceof Uint8Array) {
      throw new Error('pickleCheckpoint: bytes values cannot be written in protocol 2 without a codecs global that weights_only loading refuses');
    } else {
      throw new Error(`pickleCheckpoint: cannot pickle ${String(v)}`);
    }
  }

  out.byte(0x80); // PROTO 2
  out.byte(2);
  save(value);
  out.byte(0x2e); // STOP
  return { pickle: out.result(), storages };
}
