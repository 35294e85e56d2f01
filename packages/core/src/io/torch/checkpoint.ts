import { readFile } from '#platform';
import { RAW_DTYPES } from '../raw-tensor.js';
import { writeFileAtomic } from '../write-atomic.js';
import { PyTuple, type PyValue } from './py-value.js';
import { pickleCheckpoint } from './pickler.js';
import { StorageType, unpickle, type TorchStorage } from './unpickler.js';
import { isZip, writeZip, ZipReader } from './zip.js';

/**
 * PyTorch checkpoint files (`torch.save`): the zip format of PyTorch >= 1.6 (`<archive>/data.pkl`,
 * `<archive>/data/<key>` storages, `<archive>/version`, optional `<archive>/byteorder`) and the
 * legacy format (`_use_new_zipfile_serialization=False`: a magic number, protocol version and
 * system info, the object pickle, the storage key list, then each storage as int64 numel + bytes).
 * The pre-0.4 tar format is not read. Lightning `.ckpt` and mmdetection `.pth` files are ordinary
 * `torch.save` files.
 */

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

export async function loadTorchCheckpoint(path: string): Promise<PyValue> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new Error(`PyTorch checkpoint ${path}: cannot read: ${err instanceof Error ? err.message : String(err)}`);
  }
  return parseTorchCheckpoint(bytes, path);
}

export function parseTorchCheckpoint(bytes: Uint8Array, source = '<buffer>'): PyValue {
  if (isZip(bytes)) return parseZipCheckpoint(bytes, source);
  if (bytes.length > 2 && bytes[0] === 0x80) return parseLegacyCheckpoint(bytes, source);
  if (bytes.length > 262 && new TextDecoder('latin1').decode(bytes.subarray(257, 262)) === 'ustar') {
    throw new Error(`PyTorch checkpoint ${source}: the pre-0.4 tar format is not supported; re-save it with a recent PyTorch`);
  }
  throw new Error(`PyTorch checkpoint ${source}: neither a torch.save zip archive nor a legacy pickle checkpoint`);
}

function storageFromPid(pid: PyValue, fail: (m: string) => never): { type: StorageType; key: string; numel: number; view?: [string, number, number] } {
  const items = pid instanceof PyTuple ? pid.items : undefined;
  const kind = items?.[0];
  const type = items?.[1] as unknown;
  const key = items?.[2];
  const numel = items?.[4];
  if (!items || kind !== 'storage' || !(type instanceof StorageType) || typeof key !== 'string' || typeof numel !== 'number') {
    return fail(`unexpected persistent id (expected ('storage', torch.<Type>Storage, key, location, numel))`);
  }
  const viewMeta = items[5];
  if (viewMeta instanceof PyTuple) {
    const [viewKey, offset, size] = viewMeta.items;
    if (typeof viewKey !== 'string' || typeof offset !== 'number' || typeof size !== 'number') fail('bad legacy view metadata');
    return { type, key, numel, view: [viewKey as string, offset as number, size as number] };
  }
  return { type, key, numel };
}

function byteSwap(bytes: Uint8Array, size: number): Uint8Array {
  if (size === 1) return bytes;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size) for (let j = 0; j < size; j++) out[i + j] = bytes[i + size - 1 - j]!;
  return out;
}

function parseZipCheckpoint(bytes: Uint8Array, source: string): PyValue {
  const zip = new ZipReader(bytes, source);
  const pkl = [...zip.entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) throw new Error(`PyTorch checkpoint ${source}: no <archive>/data.pkl entry (entries: ${[...zip.entries.keys()].slice(0, 5).join(', ')})`);
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const byteorderName = `${prefix}byteorder`;
  const bigEndian = zip.has(byteorderName) && new TextDecoder().decode(zip.read(byteorderName)).trim() === 'big';
  const cache = new Map<string, TorchStorage>();
  const fail = (m: string): never => {
    throw new Error(`PyTorch checkpoint ${source}: ${m}`);
  };
  return unpickle(zip.read(pkl), {
    source: `${source}:${pkl}`,
    persistentLoad: (pid) => {
      const { type, key, numel } = storageFromPid(pid, fail);
      let storage = cache.get(key);
      if (!storage) {
        const name = `${prefix}data/${key}`;
        if (!zip.has(name)) fail(`storage '${key}' is missing (no entry ${name})`);
        const size = RAW_DTYPES[type.dtype].size;
        let data = zip.read(name);
        if (data.length < numel * size) fail(`storage '${key}' holds ${data.length} bytes, ${numel} ${type.dtype} need ${numel * size}`);
        if (bigEndian) data = byteSwap(data, size);
        storage = { dtype: type.dtype, bytes: data };
        cache.set(key, storage);
      }
      return storage as unknown as PyValue;
    },
  });
}

/** Finds where one pickle ends: runs it with placeholder storages. */
function pickleEnd(bytes: Uint8Array, start: number, source: string, onStorage?: (pid: PyValue) => TorchStorage): { value: PyValue; end: number } {
  let end = -1;
  const value = unpickle(bytes.subarray(start), {
    source,
    persistentLoad: onStorage ? (pid) => onStorage(pid) as unknown as PyValue : undefined,
    onStop: (pos) => {
      end = start + pos;
    },
  });
  return { value, end };
}

function parseLegacyCheckpoint(bytes: Uint8Array, source: string): PyValue {
  const fail = (m: string): never => {
    throw new Error(`PyTorch checkpoint ${source} (legacy format): ${m}`);
  };
  const magic = pickleEnd(bytes, 0, source);
  if (magic.value !== LEGACY_MAGIC && magic.value !== Number(LEGACY_MAGIC)) fail('bad magic number: not a torch.save file');
  const protocol = pickleEnd(bytes, magic.end, source);
  if (protocol.value !== LEGACY_PROTOCOL) fail(`unsupported protocol version ${String(protocol.value)}`);
  const sysInfo = pickleEnd(bytes, protocol.end, source);
  // Pass 1: learn every storage's dtype and size, and where the object pickle ends.
  const metas = new Map<string, { type: StorageType; numel: number }>();
  const main = pickleEnd(bytes, sysInfo.end, source, (pid) => {
    const { type, key, numel, view } = storageFromPid(pid, fail);
    if (!metas.has(key)) metas.set(key, { type, numel });
    const n = view ? view[2] : numel;
    return { dtype: type.dtype, bytes: new Uint8Array(n * RAW_DTYPES[type.dtype].size) };
  });
  const keys = pickleEnd(bytes, main.end, source);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) fail('the storage key list is not a list of strings');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const storages = new Map<string, TorchStorage>();
  let p = keys.end;
  for (const key of keys.value as string[]) {
    const meta = metas.get(key) ?? fail(`storage '${key}' is listed but never used`);
    if (p + 8 > bytes.length) fail(`storage '${key}': truncated`);
    const numel = Number(view.getBigInt64(p, true));
    const size = RAW_DTYPES[meta.type.dtype].size;
    p += 8;
    if (p + numel * size > bytes.length) fail(`storage '${key}': ${numel} elements run past the end of the file`);
    storages.set(key, { dtype: meta.type.dtype, bytes: bytes.subarray(p, p + numel * size) });
    p += numel * size;
  }
  // Pass 2: the real objects.
  return pickleEnd(bytes, sysInfo.end, source, (pid) => {
    const { type, key, view: v } = storageFromPid(pid, fail);
    const root = storages.get(key) ?? fail(`storage '${key}' has no data`);
    if (!v) return root;
    const size = RAW_DTYPES[type.dtype].size;
    return { dtype: type.dtype, bytes: root.bytes.subarray(v[1] * size, (v[1] + v[2]) * size) };
  }).value;
}

export interface SaveTorchOptions {
  /** The archive folder name inside the zip; PyTorch 2 writes `archive`. */
  archiveName?: string;
}

/** The bytes of a zip-format `torch.save` file that `torch.load(..., weights_only=True)` reads. */
export function serializeTorchCheckpoint(value: PyValue, options: SaveTorchOptions = {}): Uint8Array {
  const name = options.archiveName ?? 'archive';
  const { pickle, storages } = pickleCheckpoint(value);
  const enc = new TextEncoder();
  return writeZip([
    { name: `${name}/data.pkl`, data: pickle },
    { name: `${name}/byteorder`, data: enc.encode('little') },
    ...storages.map((s) => ({ name: `${name}/data/${s.key}`, data: s.bytes })),
    { name: `${name}/version`, data: enc.encode('3\n') },
  ]);
}

/** Writes atomically (temporary file, then rename). */
export async function saveTorchCheckpoint(path: string, value: PyValue, options: SaveTorchOptions = {}): Promise<void> {
  await writeFileAtomic(path, serializeTorchCheckpoint(value, options), 'PyTorch checkpoint');
}
