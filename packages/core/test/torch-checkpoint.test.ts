import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RAW_DTYPES, RawTensor, toHostTensor, type RawDType } from '../src/io/raw-tensor.js';
import { parseSafetensorsRaw } from '../src/io/safetensors.js';
import { parseTorchCheckpoint, serializeTorchCheckpoint } from '../src/io/torch/checkpoint.js';
import { pickleCheckpoint } from '../src/io/torch/pickler.js';
import { PyDevice, PyDict, PyFloat, PyTuple, pyDict, pyNumber, type PyValue } from '../src/io/torch/py-value.js';
import { findStateDict, flattenCheckpoint, renameTensors, stripDataParallelPrefix } from '../src/io/torch/state-dict.js';
import { RefusedGlobalError, materialize, unpickle } from '../src/io/torch/unpickler.js';
import { ZipReader, crc32, writeZip } from '../src/io/torch/zip.js';
import { loadWeights, readWeightsFile, writeWeightsFile } from '../src/io/weights-file.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.join(HERE, 'fixtures/pth');
const SHARED = path.resolve(HERE, '../../../../shared/fixtures/pth');

interface Case {
  name: string;
  dir: string;
  file: string;
  expected: string;
}
const CASES: Case[] = [
  { name: 'plain-state-dict', file: 'checkpoint.pth', expected: 'plain-state-dict' },
  { name: 'fp16-state-dict', file: 'checkpoint.pth', expected: 'fp16-state-dict' },
  { name: 'legacy-format', file: 'checkpoint.pth', expected: 'plain-state-dict' },
  { name: 'mmdet-checkpoint', file: 'checkpoint.pth', expected: 'mmdet-checkpoint' },
  { name: 'views-and-shared-storage', file: 'checkpoint.pth', expected: 'views-and-shared-storage' },
].map((c) => ({ ...c, dir: FIXTURES, expected: path.join(FIXTURES, c.expected) }));
const lightningDir = path.join(SHARED, 'lightning-ckpt');
const haveLightning = existsSync(path.join(lightningDir, 'checkpoint.ckpt'));

function jsonLeaf(v: unknown): unknown {
  if (v instanceof PyFloat) return v.value;
  if (typeof v === 'bigint') return Number(v);
  return v;
}

function checkAgainstExpected(c: Case): void {
  const value = parseTorchCheckpoint(readFileSync(path.join(c.dir, c.name, c.file)), c.name);
  const flat = flattenCheckpoint(value);
  const expectedJson = JSON.parse(readFileSync(path.join(c.name === 'legacy-format' ? path.join(c.dir, 'legacy-format') : c.expected, 'expected.json'), 'utf8')) as {
    non_tensor_leaves: Record<string, unknown>;
    tensor_leaves: string[];
  };
  expect([...flat.tensors.keys()].sort()).toEqual(expectedJson.tensor_leaves);
  expect(Object.fromEntries([...flat.leaves].map(([k, v]) => [k, jsonLeaf(v)]))).toEqual(expectedJson.non_tensor_leaves);
  const expected = parseSafetensorsRaw(readFileSync(path.join(c.expected, 'expected.safetensors'))).tensors;
  expect(expected.size).toBe(flat.tensors.size);
  for (const [name, t] of flat.tensors) {
    const e = expected.get(name)!;
    expect({ name, dtype: t.dtype, shape: t.shape }).toEqual({ name, dtype: e.dtype, shape: e.shape });
    expect(Buffer.compare(Buffer.from(t.bytes), Buffer.from(e.bytes)), `${name} bytes`).toBe(0);
  }
}

describe('PyTorch checkpoints written by torch.save (PyTorch 1.13) read bit for bit', () => {
  for (const c of CASES) {
    it(`${c.name}: every tensor equals expected.safetensors byte for byte, every other leaf equals expected.json`, () => {
      checkAgainstExpected(c);
    });
  }
  it.skipIf(!haveLightning)('lightning-ckpt (4.7 MB, read from ../shared when present): state_dict, AdamW states and counters', () => {
    checkAgainstExpected({ name: 'lightning-ckpt', dir: SHARED, file: 'checkpoint.ckpt', expected: lightningDir });
  });

  it('views-and-shared-storage: tensors sharing a storage are independent copies; the tensor pickled twice is one object', () => {
    const value = parseTorchCheckpoint(readFileSync(path.join(FIXTURES, 'views-and-shared-storage/checkpoint.pth'))) as PyDict;
    expect(value.get('same')).toBe(value.get('base'));
    const base = toHostTensor(value.get('base') as RawTensor);
    const col = toHostTensor(value.get('col') as RawTensor);
    // col is base[:, 3]: stride 8 from offset 3.
    expect(Array.from(col.data)).toEqual(Array.from({ length: 8 }, (_, i) => base.data[i * 8 + 3]));
    (value.get('row') as RawTensor).bytes.fill(0);
    expect(toHostTensor(value.get('base') as RawTensor).data).toEqual(base.data);
  });

  it('mmdet-checkpoint: the state dict is found under state_dict, meta stays available', () => {
    const value = parseTorchCheckpoint(readFileSync(path.join(FIXTURES, 'mmdet-checkpoint/checkpoint.pth')));
    const found = findStateDict(value);
    expect(found.entry).toBe('state_dict');
    expect([...found.tensors.keys()].every((k) => k.startsWith('backbone.') || k.startsWith('neck.'))).toBe(true);
    const meta = (value as PyDict).get('meta') as PyDict;
    expect(meta.get('CLASSES')).toEqual(['circle', 'square']);
  });
});

describe('the restricted unpickler refuses what state dicts do not use', () => {
  it("malicious: refuses the os.system reduce, names 'posix.system', runs nothing", () => {
    const bytes = readFileSync(path.join(FIXTURES, 'malicious/checkpoint.pth'));
    const marker = path.join(process.cwd(), 'pth-fixture-pwned');
    let error: unknown;
    try {
      parseTorchCheckpoint(bytes, 'malicious.pth');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(RefusedGlobalError);
    expect((error as RefusedGlobalError).global).toBe('posix.system');
    expect((error as Error).message).toMatch(/refusing global 'posix\.system'/);
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses other globals by name (builtins.eval via STACK_GLOBAL, subprocess via GLOBAL)', () => {
    // \x80\x04 PROTO 4, SHORT_BINUNICODE 'builtins', SHORT_BINUNICODE 'eval', STACK_GLOBAL
    const stackGlobal = Uint8Array.from([0x80, 4, 0x8c, 8, ...Buffer.from('builtins'), 0x8c, 4, ...Buffer.from('eval'), 0x93, 0x2e]);
    expect(() => unpickle(stackGlobal)).toThrow(/refusing global 'builtins\.eval'/);
    const global = Buffer.from('\x80\x02csubprocess\nPopen\n.', 'latin1');
    expect(() => unpickle(global)).toThrow(/refusing global 'subprocess\.Popen'/);
  });

  it('refuses INST / OBJ style opcodes and truncated pickles with the byte position', () => {
    expect(() => unpickle(Buffer.from('(ios\nsystem\n.', 'latin1'))).toThrow(/opcode 0x69 is refused/);
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x58, 10, 0, 0, 0, 0x61]))).toThrow(/truncated pickle/);
  });

  it('a strided view that reaches past its storage is an error, not an out-of-bounds read', () => {
    const storage = { dtype: 'float32' as const, bytes: new Uint8Array(16) };
    const fail = (m: string): never => {
      throw new Error(m);
    };
    expect(() => materialize(storage, 2, [2, 2], [2, 1], fail)).toThrow(/reaches element 5 of a 4-element storage/);
  });
});

function tensorOf(dtype: RawDType, shape: number[], fill: (bytes: Uint8Array) => void): RawTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const bytes = new Uint8Array(n * RAW_DTYPES[dtype].size);
  fill(bytes);
  return new RawTensor(dtype, shape, bytes);
}

function pseudoRandomBytes(seed: number): (bytes: Uint8Array) => void {
  return (bytes) => {
    let s = seed;
    for (let i = 0; i < bytes.length; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      bytes[i] = s >>> 24;
    }
  };
}

describe('writing torch.save files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pn-torch-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('every dtype, 0-d, empty and large tensors round trip bit for bit (NaN payloads included)', () => {
    const dtypes = Object.keys(RAW_DTYPES) as RawDType[];
    const dict = pyDict([], true);
    dtypes.forEach((d, i) => {
      const fill = d === 'bool' ? (b: Uint8Array) => b.forEach((_, j) => (b[j] = j % 3 === 0 ? 1 : 0)) : pseudoRandomBytes(i + 1);
      dict.set(`t.${d}`, tensorOf(d, [3, 5, 2], fill));
    });
    dict.set('scalar', tensorOf('float32', [], pseudoRandomBytes(99)));
    dict.set('empty', tensorOf('float32', [0, 4], () => undefined));
    dict.set('big', tensorOf('float32', [300, 70], pseudoRandomBytes(7)));
    const back = parseTorchCheckpoint(serializeTorchCheckpoint(dict)) as PyDict;
    expect(back.ordered).toBe(true);
    expect([...back.keys()]).toEqual([...dict.keys()]);
    for (const [k, v] of dict) {
      const t = back.get(k) as RawTensor;
      const o = v as RawTensor;
      expect({ k, dtype: t.dtype, shape: t.shape }).toEqual({ k, dtype: o.dtype, shape: o.shape });
      expect(Buffer.compare(Buffer.from(t.bytes), Buffer.from(o.bytes)), k).toBe(0);
    }
  });

  it('nested checkpoints keep their structure: ints vs floats, tuples vs lists, int keys, None, bools, big ints, devices, parameters', () => {
    const w = tensorOf('float32', [2, 2], pseudoRandomBytes(3));
    const param = new RawTensor('float32', [2], new Uint8Array(8).fill(1), true, true);
    const value = pyDict([
      ['meta', pyDict([['epoch', 12], ['lr', 0.001], ['one', new PyFloat(1)], ['CLASSES', new PyTuple(['a', 'b'])], ['huge', 2n ** 70n], ['neg', -5], ['mid', 70000], ['negbig', -(2 ** 40)]])],
      ['state_dict', pyDict([['w', w], ['w_again', w], ['p', param]], true)],
      ['optimizer', pyDict([['state', pyDict([[0, pyDict([['step', 3]])]])], ['param_groups', [pyDict([['params', [0, 1]], ['foreach', null], ['amsgrad', false], ['device', new PyDevice('cpu')]])]]])],
    ]);
    const back = parseTorchCheckpoint(serializeTorchCheckpoint(value)) as PyDict;
    const meta = back.get('meta') as PyDict;
    expect(meta.get('epoch')).toBe(12);
    expect(meta.get('lr')).toBe(0.001);
    expect(meta.get('one')).toBeInstanceOf(PyFloat);
    expect(meta.get('huge')).toBe(2n ** 70n);
    expect([meta.get('neg'), meta.get('mid'), meta.get('negbig')]).toEqual([-5, 70000, -(2 ** 40)]);
    expect((meta.get('CLASSES') as PyTuple).items).toEqual(['a', 'b']);
    const sd = back.get('state_dict') as PyDict;
    expect(sd.get('w')).toBe(sd.get('w_again'));
    expect((sd.get('p') as RawTensor).isParameter).toBe(true);
    expect((sd.get('p') as RawTensor).requiresGrad).toBe(true);
    const opt = back.get('optimizer') as PyDict;
    expect([...(opt.get('state') as PyDict).keys()]).toEqual([0]);
    const group = (opt.get('param_groups') as PyValue[])[0] as PyDict;
    expect(group.get('params')).toEqual([0, 1]);
    expect(group.get('foreach')).toBeNull();
    expect((group.get('device') as PyDevice).type).toBe('cpu');
    expect(pyNumber(meta.get('one')!)).toBe(1);
  });

  it('the archive has the layout torch.save writes: data.pkl, byteorder, data/<key> on 64-byte boundaries, version', () => {
    const dict = pyDict([['a', tensorOf('float16', [3], pseudoRandomBytes(1))], ['b', tensorOf('int64', [5], pseudoRandomBytes(2))]], true);
    const bytes = serializeTorchCheckpoint(dict);
    const zip = new ZipReader(bytes);
    expect([...zip.entries.keys()]).toEqual(['archive/data.pkl', 'archive/byteorder', 'archive/data/0', 'archive/data/1', 'archive/version']);
    expect(new TextDecoder().decode(zip.read('archive/byteorder'))).toBe('little');
    expect(new TextDecoder().decode(zip.read('archive/version'))).toBe('3\n');
    for (const e of zip.entries.values()) {
      const view = new DataView(bytes.buffer, bytes.byteOffset);
      const start = e.localHeaderOffset + 30 + view.getUint16(e.localHeaderOffset + 26, true) + view.getUint16(e.localHeaderOffset + 28, true);
      expect(start % 64, e.name).toBe(0);
      expect(e.method).toBe(0);
    }
  });

  it('re-writing a fixture gives the same pickle opcodes as PyTorch wrote, up to memo numbering of repeated strings', () => {
    // PyTorch memoises strings by object identity, so a storage key string is re-sent once per
    // tensor; this writer memoises by value. Compare the opcode sequences with memo ops removed
    // and strings/ints compared as values.
    const original = new ZipReader(readFileSync(path.join(FIXTURES, 'plain-state-dict/checkpoint.pth')));
    const value = parseTorchCheckpoint(readFileSync(path.join(FIXTURES, 'plain-state-dict/checkpoint.pth')));
    const rewritten = pickleCheckpoint(value).pickle;
    const opsOf = (b: Uint8Array): string[] => opcodeSkeleton(b);
    const a = opsOf(original.read('checkpoint/data.pkl'));
    const b = opsOf(rewritten);
    // The original ends with the state `{'_metadata': OrderedDict(...)}` and BUILD, which the
    // reader drops on purpose: it starts at the first EMPTY_DICT (tensors contain none).
    const metadataStart = a.indexOf('EMPTY_DICT');
    expect(a.at(-2)).toBe('BUILD');
    const aWithoutMetadata = a.slice(0, metadataStart).concat(['STOP']);
    expect(b.slice(0, 200)).toEqual(aWithoutMetadata.slice(0, 200));
    expect(b.length).toBe(aWithoutMetadata.length);
  });

  it('the zip reader checks CRC-32 and reads deflated entries', async () => {
    const { deflateRawSync } = await import('node:zlib');
    const data = new TextEncoder().encode('hello hello hello hello');
    const stored = writeZip([{ name: 'x/a', data }]);
    expect(new TextDecoder().decode(new ZipReader(stored).read('x/a'))).toBe('hello hello hello hello');
    // Build a deflated archive by hand: local header, data, central directory, end record.
    const comp = deflateRawSync(data);
    const name = new TextEncoder().encode('x/a');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc32(data), 14);
    local.writeUInt32LE(comp.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc32(data), 16);
    central.writeUInt32LE(comp.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    const cdOffset = 30 + name.length + comp.length;
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(1, 8);
    end.writeUInt16LE(1, 10);
    end.writeUInt32LE(46 + name.length, 12);
    end.writeUInt32LE(cdOffset, 16);
    const zip = Buffer.concat([local, name, comp, central, name, end]);
    expect(new TextDecoder().decode(new ZipReader(zip).read('x/a'))).toBe('hello hello hello hello');
    const damaged = Buffer.from(stored);
    damaged[64] ^= 1; // first data byte
    expect(() => new ZipReader(damaged).read('x/a')).toThrow(/CRC-32 mismatch/);
  });

  it('the zip reader follows the zip64 end record when the classic one is saturated', () => {
    const bytes = Buffer.from(writeZip([{ name: 'x/a', data: new Uint8Array([1, 2, 3]) }, { name: 'x/b', data: new Uint8Array(0) }]));
    const eocd = bytes.length - 22;
    expect(bytes.readUInt32LE(eocd)).toBe(0x06054b50);
    bytes.writeUInt16LE(0xffff, eocd + 8);
    bytes.writeUInt16LE(0xffff, eocd + 10);
    bytes.writeUInt32LE(0xffffffff, eocd + 12);
    bytes.writeUInt32LE(0xffffffff, eocd + 16);
    const zip = new ZipReader(bytes);
    expect([...zip.entries.keys()]).toEqual(['x/a', 'x/b']);
    expect(Array.from(zip.read('x/a'))).toEqual([1, 2, 3]);
    expect(zip.read('x/b').length).toBe(0);
  });

  it('writeWeightsFile / readWeightsFile convert between .pth and .safetensors keeping dtypes; loadWeights strips module.', async () => {
    const tensors = new Map<string, RawTensor>([
      ['module.a.weight', tensorOf('float16', [4], pseudoRandomBytes(5))],
      ['module.a.num_batches_tracked', tensorOf('int64', [], (b) => (b[0] = 7))],
    ]);
    const pth = path.join(dir, 'w.pth');
    const st = path.join(dir, 'w.safetensors');
    await writeWeightsFile(pth, tensors);
    const fromPth = await readWeightsFile(pth);
    await writeWeightsFile(st, fromPth.tensors);
    const fromSt = await readWeightsFile(st);
    for (const f of [fromPth, fromSt]) {
      expect([...f.tensors.keys()].sort()).toEqual([...tensors.keys()].sort());
      expect(f.tensors.get('module.a.weight')!.dtype).toBe('float16');
      expect(Buffer.compare(Buffer.from(f.tensors.get('module.a.weight')!.bytes), Buffer.from(tensors.get('module.a.weight')!.bytes))).toBe(0);
      expect(f.tensors.get('module.a.num_batches_tracked')!.dtype).toBe('int64');
    }
    const host = await loadWeights(pth);
    expect([...host.keys()].sort()).toEqual(['a.num_batches_tracked', 'a.weight']);
    expect(host.get('a.num_batches_tracked')!.data[0]).toBe(7);
    expect(host.get('a.weight')!.dtype).toBe('float32');
  });

  it('renameTensors strips and adds prefixes and refuses collisions; stripDataParallelPrefix only when every name has module.', () => {
    const t = tensorOf('float32', [1], () => undefined);
    const d = new Map([['model.a', t], ['model.b', t]]);
    expect([...renameTensors(d, { stripPrefix: 'model.', addPrefix: 'backbone.' }).keys()]).toEqual(['backbone.a', 'backbone.b']);
    expect(() => renameTensors(new Map([['x.a', t], ['a', t]]), { stripPrefix: 'x.' })).toThrow(/two tensors 'a'/);
    expect([...stripDataParallelPrefix(new Map([['module.a', t], ['b', t]])).keys()]).toEqual(['module.a', 'b']);
  });
});

const OPCODE_NAMES: Record<number, string> = {
  0x80: 'PROTO', 0x7d: 'EMPTY_DICT', 0x28: 'MARK', 0x58: 'BINUNICODE', 0x63: 'GLOBAL', 0x74: 'TUPLE', 0x51: 'BINPERSID',
  0x4b: 'BININT1', 0x4d: 'BININT2', 0x4a: 'BININT', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x89: 'NEWFALSE', 0x88: 'NEWTRUE',
  0x29: 'EMPTY_TUPLE', 0x52: 'REDUCE', 0x75: 'SETITEMS', 0x73: 'SETITEM', 0x2e: 'STOP', 0x62: 'BUILD', 0x4e: 'NONE', 0x47: 'BINFLOAT',
  0x5d: 'EMPTY_LIST', 0x65: 'APPENDS', 0x61: 'APPEND', 0x8a: 'LONG1',
};

/** Opcode names with memo PUT/GET folded away: a GET stands for the value it fetches. */
function opcodeSkeleton(bytes: Uint8Array): string[] {
  const out: string[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  while (p < bytes.length) {
    const op = bytes[p++]!;
    switch (op) {
      case 0x71: p += 1; continue; // BINPUT
      case 0x72: p += 4; continue; // LONG_BINPUT
      case 0x68: p += 1; out.push('GET'); continue;
      case 0x6a: p += 4; out.push('GET'); continue;
      case 0x80: case 0x4b: p += 1; break;
      case 0x4d: p += 2; break;
      case 0x4a: p += 4; break;
      case 0x47: p += 8; break;
      case 0x8a: p += 1 + bytes[p]!; break;
      case 0x58: p += 4 + view.getUint32(p, true); break;
      case 0x63: p = bytes.indexOf(0x0a, bytes.indexOf(0x0a, p) + 1) + 1; break;
      default: break;
    }
    // Strings and globals may be sent in full or fetched from the memo: both count as a value.
    const name = OPCODE_NAMES[op] ?? `0x${op.toString(16)}`;
    out.push(name === 'BINUNICODE' || name === 'GLOBAL' ? 'GET' : name);
  }
  return out;
}
