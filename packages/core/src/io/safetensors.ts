import { rename, unlink, writeFile } from '#platform';
import { readSource, sourceLabel, type BytesSource } from './read-source.js';
import { hostTensor, shapeSize, type HostTensor, type StateDict } from '../host-tensor.js';
import { RAW_DTYPES, RawTensor, rawDTypeFromSafetensors, toHostTensor } from './raw-tensor.js';

/**
 * safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header length
 * N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {...}}`,
 * then the tensor bytes, offsets relative to the end of the header.
 *
 * Reading accepts F32, F16, BF16, F64 (all returned as float32) and I32, I64, I16, I8, U8, BOOL
 * (returned as int32; I64 values must fit in int32). Integer tensors in PyTorch checkpoints are
 * mostly BatchNorm's `num_batches_tracked`, which `Module.loadStateDict` ignores; they are returned
 * so that callers can decide. Writing produces F32 and I32 only, names sorted, tensors back to
 * back, so a read-write round trip is bit exact. `parseSafetensorsRaw` / `serializeSafetensorsRaw`
 * keep every dtype as stored (for converting files). Typed-array views assume a little-endian host, as is every
 * platform Node.js ships for.
 */

const HEADER_LIMIT = 100 * 1024 * 1024;

const ITEM_SIZES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I32: 4, I64: 8, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export interface SafetensorsContents {
  tensors: StateDict;
  metadata: Record<string, string>;
}

/** Reads a safetensors file: a path (Node), a URL (fetched), or bytes (e.g. a dropped file). */
export async function loadSafetensors(source: BytesSource): Promise<StateDict> {
  return (await loadSafetensorsWithMetadata(source)).tensors;
}

export async function loadSafetensorsWithMetadata(source: BytesSource): Promise<SafetensorsContents> {
  const label = sourceLabel(source);
  let bytes: Uint8Array;
  try {
    bytes = await readSource(source);
  } catch (err) {
    throw new Error(`safetensors ${label}: cannot read: ${err instanceof Error ? err.message : String(err)}`);
  }
  return parseSafetensorsWithMetadata(bytes, label);
}

/** Parses a safetensors buffer. float32 / int32 tensors may share memory with `bytes`. */
export function parseSafetensors(bytes: Uint8Array, source = '<buffer>'): StateDict {
  return parseSafetensorsWithMetadata(bytes, source).tensors;
}

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

function isNonNegativeInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export function parseSafetensorsWithMetadata(bytes: Uint8Array, source = '<buffer>'): SafetensorsContents {
  const { entries, metadata, dataStart } = parseHeader(bytes, source);
  const tensors: StateDict = new Map();
  for (const e of entries) {
    const start = bytes.byteOffset + dataStart + e.begin;
    const raw = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    tensors.set(e.name, decode(e, raw, start, source));
  }
  return { tensors, metadata };
}

/** Every tensor with its dtype and bytes as stored (copies), in file order of the header. */
export function parseSafetensorsRaw(bytes: Uint8Array, source = '<buffer>'): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  const { entries, metadata, dataStart } = parseHeader(bytes, source);
  const tensors = new Map<string, RawTensor>();
  for (const e of entries) {
    const dtype = rawDTypeFromSafetensors(e.dtype);
    if (!dtype) throw new Error(`safetensors ${source}: tensor '${e.name}': unsupported dtype ${e.dtype}`);
    tensors.set(e.name, new RawTensor(dtype, e.shape, bytes.slice(dataStart + e.begin, dataStart + e.end)));
  }
  return { tensors, metadata };
}

export async function loadSafetensorsRaw(path: string): Promise<{ tensors: Map<string, RawTensor>; metadata: Record<string, string> }> {
  let bytes: Uint8Array;
  try {
    bytes = await readSource(path);
  } catch (err) {
    throw new Error(`safetensors ${path}: cannot read: ${err instanceof Error ? err.message : String(err)}`);
  }
  return parseSafetensorsRaw(bytes, path);
}

/** Serialises tensors keeping their dtypes (F16, BF16, I64, BOOL ...), names sorted, back to back. */
export function serializeSafetensorsRaw(tensors: ReadonlyMap<string, RawTensor>, metadata?: Record<string, string>): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new Error("serializeSafetensorsRaw: '__metadata__' is reserved and cannot name a tensor");
    const t = tensors.get(name)!;
    header[name] = { dtype: RAW_DTYPES[t.dtype].safetensors, shape: [...t.shape], data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let pos = 8 + headerLength;
  for (const name of names) {
    const b = tensors.get(name)!.bytes;
    out.set(b, pos);
    pos += b.length;
  }
  return out;
}

function parseHeader(bytes: Uint8Array, source: string): { entries: Entry[]; metadata: Record<string, string>; dataStart: number } {
  const fail = (msg: string): never => {
    throw new Error(`safetensors ${source}: ${msg}`);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, too short for the 8-byte header length (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    fail(`header length ${headerLength} runs past the end of the ${bytes.length}-byte file (truncated or not safetensors)`);
  }
  const n = Number(headerLength);
  if (n > HEADER_LIMIT) fail(`header length ${n} exceeds the ${HEADER_LIMIT}-byte limit`);

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (err) {
    fail(`header is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');

  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const bad = (msg: string): never => fail(`tensor '${name}': ${msg}`);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('entry is not an object');
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string') bad('missing or non-string dtype');
    const itemSize = ITEM_SIZES[dtype as string];
    if (itemSize === undefined) {
      bad(`unsupported dtype ${String(dtype)} (supported: ${Object.keys(ITEM_SIZES).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) bad(`invalid shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
      bad(`invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) bad(`data_offsets [${begin}, ${end}] are reversed`);
    if (end > dataLength) bad(`data_offsets [${begin}, ${end}] run past the ${dataLength} data bytes (truncated file?)`);
    const expected = shapeSize(shape as number[]) * itemSize!;
    if (end - begin !== expected) {
      bad(`data_offsets span ${end - begin} bytes but ${dtype} [${(shape as number[]).join(', ')}] needs ${expected}`);
    }
    entries.push({ name, dtype: dtype as string, shape: shape as number[], begin, end });
  }

  const byOffset = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!;
    const cur = byOffset[i]!;
    if (cur.begin < prev.end) {
      fail(`tensors '${prev.name}' [${prev.begin}, ${prev.end}) and '${cur.name}' [${cur.begin}, ${cur.end}) overlap`);
    }
  }

  return { entries, metadata, dataStart };
}

/** A typed view when the bytes are aligned for it, otherwise an aligned copy. */
function aligned<T>(raw: Uint8Array, absoluteOffset: number, align: number, make: (b: ArrayBufferLike, o: number, n: number) => T): T {
  const count = raw.byteLength / align;
  if (absoluteOffset % align === 0) return make(raw.buffer, absoluteOffset, count);
  const copy = new Uint8Array(raw.byteLength);
  copy.set(raw);
  return make(copy.buffer, 0, count);
}

function decode(e: Entry, raw: Uint8Array, offset: number, source: string): HostTensor {
  switch (e.dtype) {
    case 'F32':
      return hostTensor(aligned(raw, offset, 4, (b, o, n) => new Float32Array(b, o, n)), e.shape);
    case 'I32':
      return hostTensor(aligned(raw, offset, 4, (b, o, n) => new Int32Array(b, o, n)), e.shape);
    case 'F64': {
      const src = aligned(raw, offset, 8, (b, o, n) => new Float64Array(b, o, n));
      return hostTensor(Float32Array.from(src), e.shape);
    }
    case 'F16':
    case 'BF16': {
      const src = aligned(raw, offset, 2, (b, o, n) => new Uint16Array(b, o, n));
      const out = new Float32Array(src.length);
      if (e.dtype === 'BF16') {
        // bfloat16 is the top half of a float32.
        const bits = new Uint32Array(out.buffer);
        for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
      } else {
        for (let i = 0; i < src.length; i++) out[i] = halfToFloat(src[i]!);
      }
      return hostTensor(out, e.shape);
    }
    case 'I64': {
      const src = aligned(raw, offset, 8, (b, o, n) => new BigInt64Array(b, o, n));
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i]!;
        if (v > 2147483647n || v < -2147483648n) {
          throw new Error(`safetensors ${source}: tensor '${e.name}': I64 value ${v} at index ${i} does not fit in int32`);
        }
        out[i] = Number(v);
      }
      return hostTensor(out, e.shape);
    }
    default: {
      // I16, I8, U8, BOOL: widened to int32 like the other integer types.
      const dtype = rawDTypeFromSafetensors(e.dtype);
      if (!dtype) throw new Error(`safetensors ${source}: tensor '${e.name}': unsupported dtype ${e.dtype}`);
      return toHostTensor(new RawTensor(dtype, e.shape, raw), e.name);
    }
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Serialises F32 / I32 tensors, names sorted, tensors back to back, header padded with spaces. */
export function serializeSafetensors(dict: StateDict, metadata?: Record<string, string>): Uint8Array {
  const names = [...dict.keys()].sort();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`serializeSafetensors: metadata '${k}' is not a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new Error("serializeSafetensors: '__metadata__' is reserved and cannot name a tensor");
    const t = dict.get(name)!;
    if (t.data.length !== shapeSize(t.shape)) {
      throw new Error(`serializeSafetensors: tensor '${name}' has ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    }
    const dtype = t.dtype === 'float32' ? 'F32' : t.dtype === 'int32' ? 'I32' : undefined;
    if (!dtype || !(t.data instanceof (t.dtype === 'float32' ? Float32Array : Int32Array))) {
      throw new Error(`serializeSafetensors: tensor '${name}' has dtype ${String(t.dtype)} with ${t.data.constructor.name} data`);
    }
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let pos = 8 + headerLength;
  for (const name of names) {
    const data = dict.get(name)!.data;
    // Copy bytes, not numbers, so NaN payloads survive and the round trip is bit exact.
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pos);
    pos += data.byteLength;
  }
  return out;
}

/** Writes atomically (temporary file, then rename) so a crash never leaves a truncated checkpoint. */
export async function saveSafetensors(dict: StateDict, path: string, metadata?: Record<string, string>): Promise<void> {
  const bytes = serializeSafetensors(dict, metadata);
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new Error(`safetensors ${path}: cannot write: ${err instanceof Error ? err.message : String(err)}`);
  }
}
