import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostTensor, type StateDict } from '../src/host-tensor.js';
import {
  loadSafetensors,
  loadSafetensorsWithMetadata,
  parseSafetensors,
  parseSafetensorsWithMetadata,
  saveSafetensors,
  serializeSafetensors,
} from '../src/io/safetensors.js';

// The official-model fixture kept with the backbone's tests (one copy in the repository).
const FIXTURE = fileURLToPath(
  new URL('../../backbone/test/fixtures/tiny-gelu-sp-64x64/weights.safetensors', import.meta.url),
);

/** Builds a safetensors file by hand: header object as given, raw data bytes, optional header padding. */
function build(header: unknown, data: Uint8Array, pad = true): Uint8Array {
  let json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  if (pad && json.length % 8 !== 0) {
    const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
    padded.set(json);
    json = padded;
  }
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'safetensors-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('fixture', () => {
  it('reads the official PartialNet weights with PyTorch names and shapes', async () => {
    const { tensors, metadata } = await loadSafetensorsWithMetadata(FIXTURE);
    expect(tensors.size).toBe(166);
    expect(metadata.format).toBe('pt');
    const stem = tensors.get('patch_embed.proj.weight')!;
    expect(stem.dtype).toBe('float32');
    expect(stem.shape).toEqual([16, 3, 4, 4]);
    // First values, read independently with Python's struct module.
    expect(stem.data[0]).toBeCloseTo(-0.15100473165512085, 7);
    expect(stem.data[1]).toBeCloseTo(0.17761042714118958, 7);
    expect(tensors.has('patch_embed.norm.num_batches_tracked')).toBe(false);
  });

  it('round-trips bit exactly through save and load', async () => {
    const original = await loadSafetensors(FIXTURE);
    const out = path.join(dir, 'roundtrip.safetensors');
    await saveSafetensors(original, out, { producer: 'test' });
    const { tensors: again, metadata } = await loadSafetensorsWithMetadata(out);
    expect(metadata).toEqual({ producer: 'test' });
    expect([...again.keys()].sort()).toEqual([...original.keys()].sort());
    for (const [name, t] of original) {
      const u = again.get(name)!;
      expect(u.shape, name).toEqual(t.shape);
      expect(Buffer.compare(bytesOf(u.data), bytesOf(t.data)), name).toBe(0);
    }
    // Our own output is canonical: writing what we read gives the same bytes again.
    const bytes = await readFile(out);
    expect(Buffer.compare(serializeSafetensors(parseSafetensors(bytes), { producer: 'test' }), bytes)).toBe(0);
  });
});

describe('writing', () => {
  it('sorts names, pads the header with spaces to 8 bytes and packs tensors back to back', () => {
    const dict: StateDict = new Map([
      ['b', hostTensor(new Int32Array([7, -8]), [2])],
      ['a', hostTensor(new Float32Array([1.5, NaN, -0]), [3, 1])],
    ]);
    const bytes = serializeSafetensors(dict);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(Object.keys(header)).toEqual(['a', 'b']);
    expect(header.a).toEqual({ dtype: 'F32', shape: [3, 1], data_offsets: [0, 12] });
    expect(header.b).toEqual({ dtype: 'I32', shape: [2], data_offsets: [12, 20] });
    expect(bytes.length).toBe(8 + n + 20);
    const back = parseSafetensors(bytes);
    expect(back.get('b')!.dtype).toBe('int32');
    expect(Array.from(back.get('b')!.data)).toEqual([7, -8]);
    const a = back.get('a')!.data;
    expect(Number.isNaN(a[1])).toBe(true);
    expect(Object.is(a[2], -0)).toBe(true);
  });

  it('rejects a tensor whose data does not fill its shape', () => {
    const bad: StateDict = new Map([['w', { dtype: 'float32', shape: [2, 2], data: new Float32Array(3) }]]);
    expect(() => serializeSafetensors(bad)).toThrow(/'w' has 3 values for shape \[2, 2\]/);
  });
});

describe('reading other dtypes', () => {
  it('converts F16 and BF16 to float32', () => {
    // 1, -2, 0.5, 65504 (max half), 2^-24 (smallest subnormal), -inf
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0xfc00]);
    // 1, -2, 3.140625 (bf16 of pi), 1e38-ish
    const bf16 = new Uint16Array([0x3f80, 0xc000, 0x4049, 0x7e96]);
    const data = new Uint8Array(f16.byteLength + bf16.byteLength);
    data.set(bytesOf(f16), 0);
    data.set(bytesOf(bf16), f16.byteLength);
    const dict = parseSafetensors(
      build(
        {
          h: { dtype: 'F16', shape: [2, 3], data_offsets: [0, 12] },
          b: { dtype: 'BF16', shape: [4], data_offsets: [12, 20] },
        },
        data,
      ),
    );
    expect(Array.from(dict.get('h')!.data)).toEqual([1, -2, 0.5, 65504, 2 ** -24, -Infinity]);
    expect(dict.get('h')!.shape).toEqual([2, 3]);
    const b = Array.from(dict.get('b')!.data);
    expect(b.slice(0, 3)).toEqual([1, -2, 3.140625]);
    expect(b[3]).toBeCloseTo(new Float32Array(new Uint32Array([0x7e960000]).buffer)[0]!, 0);
  });

  it('reads I64 (num_batches_tracked) as int32 and refuses values beyond int32', () => {
    const ok = new BigInt64Array([12345n, -3n]);
    const dict = parseSafetensors(build({ 'bn.num_batches_tracked': { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, bytesOf(ok)));
    const t = dict.get('bn.num_batches_tracked')!;
    expect(t.dtype).toBe('int32');
    expect(Array.from(t.data)).toEqual([12345, -3]);
    const big = new BigInt64Array([2n ** 40n]);
    expect(() => parseSafetensors(build({ n: { dtype: 'I64', shape: [], data_offsets: [0, 8] } }, bytesOf(big)), 'big.st')).toThrow(
      /big\.st: tensor 'n': I64 value 1099511627776 at index 0 does not fit in int32/,
    );
  });

  it('copies tensors that do not start on an aligned byte', () => {
    // A 2-byte F16 tensor first puts the F32 tensor at data offset 2; with an 8-byte-aligned
    // header that is not 4-aligned, so a Float32Array view is impossible.
    const f32 = new Float32Array([3.25, -7]);
    const data = new Uint8Array(2 + 8);
    data.set(bytesOf(new Uint16Array([0x3c00])), 0);
    data.set(bytesOf(f32), 2);
    const dict = parseSafetensors(
      build({ a: { dtype: 'F16', shape: [1], data_offsets: [0, 2] }, w: { dtype: 'F32', shape: [2], data_offsets: [2, 10] } }, data),
    );
    expect(Array.from(dict.get('w')!.data)).toEqual([3.25, -7]);
    expect(Array.from(dict.get('a')!.data)).toEqual([1]);
  });

  it('returns metadata and accepts zero-size tensors', () => {
    const { tensors, metadata } = parseSafetensorsWithMetadata(
      build({ __metadata__: { k: 'v' }, e: { dtype: 'F32', shape: [0, 3], data_offsets: [0, 0] } }, new Uint8Array(0)),
    );
    expect(metadata).toEqual({ k: 'v' });
    expect(tensors.get('e')!.shape).toEqual([0, 3]);
    expect(tensors.get('e')!.data.length).toBe(0);
  });
});

describe('errors name the file and the problem', () => {
  const four = bytesOf(new Float32Array([1, 2, 3, 4]));
  const good = { w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } };

  it('file shorter than 8 bytes', () => {
    expect(() => parseSafetensors(new Uint8Array(5), 'x.st')).toThrow(/x\.st: file is 5 bytes, too short/);
  });

  it('header length beyond the file', () => {
    const bytes = build(good, four).subarray(0, 20);
    expect(() => parseSafetensors(bytes, 'cut.st')).toThrow(/cut\.st: header length \d+ runs past the end of the 20-byte file/);
  });

  it('invalid JSON and non-object headers', () => {
    expect(() => parseSafetensors(build('{"w": {', four), 'j.st')).toThrow(/j\.st: header is not valid JSON/);
    expect(() => parseSafetensors(build('[1, 2]', four), 'j.st')).toThrow(/header is not a JSON object/);
  });

  it('missing and invalid fields name the tensor', () => {
    const cases: [unknown, RegExp][] = [
      [{ w: { shape: [4], data_offsets: [0, 16] } }, /tensor 'w': missing or non-string dtype/],
      [{ w: { dtype: 'F32', data_offsets: [0, 16] } }, /tensor 'w': invalid shape undefined/],
      [{ w: { dtype: 'F32', shape: [2, -2], data_offsets: [0, 16] } }, /tensor 'w': invalid shape \[2,-2\]/],
      [{ w: { dtype: 'F32', shape: [4], data_offsets: [0] } }, /tensor 'w': invalid data_offsets \[0\]/],
      [{ w: { dtype: 'F32', shape: [4], data_offsets: [16, 0] } }, /tensor 'w': data_offsets \[16, 0\] are reversed/],
      [{ w: 3 }, /tensor 'w': entry is not an object/],
      [{ w: { dtype: 'U16', shape: [8], data_offsets: [0, 16] } }, /tensor 'w': unsupported dtype U16/],
      [{ __metadata__: { n: 1 }, ...good }, /__metadata__\.n is not a string/],
    ];
    for (const [header, message] of cases) expect(() => parseSafetensors(build(header, four), 'f.st')).toThrow(message);
  });

  it('offsets out of bounds (truncated data) or not matching the shape', () => {
    expect(() => parseSafetensors(build(good, four.subarray(0, 12)), 't.st')).toThrow(
      /t\.st: tensor 'w': data_offsets \[0, 16\] run past the 12 data bytes \(truncated file\?\)/,
    );
    expect(() => parseSafetensors(build({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, four), 's.st')).toThrow(
      /tensor 'w': data_offsets span 16 bytes but F32 \[3\] needs 12/,
    );
  });

  it('overlapping tensors', () => {
    const header = {
      a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] },
      b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
    };
    expect(() => parseSafetensors(build(header, four), 'o.st')).toThrow(/o\.st: tensors 'a' \[0, 12\) and 'b' \[8, 16\) overlap/);
  });

  it('a truncated file on disk names the path', async () => {
    const file = path.join(dir, 'truncated.safetensors');
    const whole = await readFile(FIXTURE);
    await writeFile(file, whole.subarray(0, whole.length - 100));
    await expect(loadSafetensors(file)).rejects.toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: tensor '.+': data_offsets`));
    await expect(loadSafetensors(path.join(dir, 'missing.safetensors'))).rejects.toThrow(/missing\.safetensors: cannot read/);
  });
});
