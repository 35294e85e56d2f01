import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

// TensorBoard event files, written by hand: a TFRecord stream (tensorflow/core/lib/io/record_writer)
// of `Event` protocol buffers (tensorflow/core/util/event.proto) holding scalar `Summary` values
// (tensorflow/core/framework/summary.proto). Only the fields scalars need are encoded.

// ---- CRC-32C (Castagnoli), as TFRecord frames use it ----------------------------------------------

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C of `bytes` (reflected polynomial 0x82F63B78, initial and final XOR 0xFFFFFFFF). */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC32C_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotate right by 15 bits and add a constant (so CRCs of CRCs stay useful). */
export function maskedCrc32c(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: uint64 length (LE), masked CRC of those 8 bytes, the data, masked CRC of the data. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

// ---- protocol buffer encoding (the three wire types scalars need) -------------------------------

class ProtoWriter {
  readonly #parts: number[] = [];

  #varint(v: number | bigint): void {
    let x = BigInt(v);
    if (x < 0n) x += 1n << 64n; // int64 two's complement, ten bytes
    do {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      this.#parts.push(x > 0n ? b | 0x80 : b);
    } while (x > 0n);
  }

  int64(field: number, v: number): this {
    this.#varint((field << 3) | 0);
    this.#varint(v);
    return this;
  }

  double(field: number, v: number): this {
    this.#varint((field << 3) | 1);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.#parts.push(...b);
    return this;
  }

  float(field: number, v: number): this {
    this.#varint((field << 3) | 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.#parts.push(...b);
    return this;
  }

  bytes(field: number, v: Uint8Array | string): this {
    const b = typeof v === 'string' ? new TextEncoder().encode(v) : v;
    this.#varint((field << 3) | 2);
    this.#varint(b.length);
    this.#parts.push(...b);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }
}

/** Event { wall_time = 1 (double), step = 2 (int64), file_version = 3 | summary = 5 }. */
export function encodeScalarEvent(wallTime: number, step: number, scalars: Readonly<Record<string, number>>): Uint8Array {
  const summary = new ProtoWriter();
  // Summary { repeated Value value = 1 }, Value { tag = 1, simple_value = 2 (float) }.
  for (const [tag, v] of Object.entries(scalars)) summary.bytes(1, new ProtoWriter().bytes(1, tag).float(2, v).finish());
  return new ProtoWriter().double(1, wallTime).int64(2, step).bytes(5, summary.finish()).finish();
}

function encodeVersionEvent(wallTime: number): Uint8Array {
  return new ProtoWriter().double(1, wallTime).bytes(3, 'brain.Event:2').finish();
}

/**
 * Appends scalars to `<dir>/events.out.tfevents.<seconds>.<host>.<pid>` (the name TensorBoard
 * looks for), so `tensorboard --logdir runs/` shows a run's curves. Each `add` is one Event written
 * straight to the file (no buffering: a killed run keeps everything it logged).
 */
export class TensorBoardWriter {
  readonly path: string;
  #fd: number | undefined;

  constructor(dir: string, now = Date.now()) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, `events.out.tfevents.${Math.floor(now / 1000)}.${hostname()}.${process.pid}`);
    this.#fd = openSync(this.path, 'a');
    writeSync(this.#fd, tfRecord(encodeVersionEvent(now / 1000)));
  }

  /** Scalars of one step; non-finite values are written too (TensorBoard shows them as gaps). */
  add(step: number, scalars: Readonly<Record<string, number>>, wallTime = Date.now() / 1000): void {
    if (this.#fd === undefined) throw new Error(`${this.path}: writer is closed`);
    if (Object.keys(scalars).length === 0) return;
    writeSync(this.#fd, tfRecord(encodeScalarEvent(wallTime, step, scalars)));
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/**
 * The scalars of a `log.jsonl` record under TensorBoard tags: train records give `train/<loss term>`,
 * `train/lr`, `train/gradNorm`; eval records give `val/<metric>`. Bookkeeping fields are left out.
 */
export function scalarsOfLogRecord(record: Readonly<Record<string, unknown>>): Record<string, number> {
  const out: Record<string, number> = {};
  const prefix = record.type === 'train' ? 'train' : record.type === 'eval' ? 'val' : undefined;
  if (!prefix) return out;
  for (const [k, v] of Object.entries(record)) {
    if (typeof v !== 'number' || ['iter', 'epoch', 'numTensors'].includes(k)) continue;
    out[`${prefix}/${k}`] = v;
  }
  return out;
}

// ---- reading back (tests, tools) ---------------------------------------------------------------

export interface ScalarEvent {
  wallTime: number;
  step: number;
  /** Tag -> value; empty for the file-version event. */
  scalars: Record<string, number>;
  fileVersion?: string;
}

function readVarint(b: Uint8Array, pos: number): [bigint, number] {
  let x = 0n;
  let shift = 0n;
  for (;;) {
    const byte = b[pos++];
    if (byte === undefined) throw new Error('truncated varint');
    x |= BigInt(byte & 0x7f) << shift;
    shift += 7n;
    if (!(byte & 0x80)) return [x, pos];
  }
}

/** Fields of one protobuf message: [field number, wire type, value (number / bigint / bytes)]. */
function fields(b: Uint8Array): [number, number, number | bigint | Uint8Array][] {
  const out: [number, number, number | bigint | Uint8Array][] = [];
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let pos = 0;
  while (pos < b.length) {
    const [key, p] = readVarint(b, pos);
    pos = p;
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [v, q] = readVarint(b, pos);
      out.push([field, wire, v]);
      pos = q;
    } else if (wire === 1) {
      out.push([field, wire, view.getFloat64(pos, true)]);
      pos += 8;
    } else if (wire === 5) {
      out.push([field, wire, view.getFloat32(pos, true)]);
      pos += 4;
    } else if (wire === 2) {
      const [len, q] = readVarint(b, pos);
      out.push([field, wire, b.subarray(q, q + Number(len))]);
      pos = q + Number(len);
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

/** Parses an event file written by TensorBoardWriter (or TensorFlow), checking every CRC. */
export function readEventFile(path: string): ScalarEvent[] {
  const buf = new Uint8Array(readFileSync(path));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const events: ScalarEvent[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (pos + 12 > buf.length) throw new Error(`${path}: truncated record header at byte ${pos}`);
    const len = Number(view.getBigUint64(pos, true));
    if (view.getUint32(pos + 8, true) !== maskedCrc32c(buf.subarray(pos, pos + 8))) throw new Error(`${path}: bad length CRC at byte ${pos}`);
    const data = buf.subarray(pos + 12, pos + 12 + len);
    if (data.length !== len || pos + 16 + len > buf.length) throw new Error(`${path}: truncated record at byte ${pos}`);
    if (view.getUint32(pos + 12 + len, true) !== maskedCrc32c(data)) throw new Error(`${path}: bad data CRC at byte ${pos}`);
    const event: ScalarEvent = { wallTime: 0, step: 0, scalars: {} };
    for (const [f, , v] of fields(data)) {
      if (f === 1) event.wallTime = v as number;
      else if (f === 2) event.step = Number(v as bigint);
      else if (f === 3) event.fileVersion = new TextDecoder().decode(v as Uint8Array);
      else if (f === 5) {
        for (const [vf, , value] of fields(v as Uint8Array)) {
          if (vf !== 1) continue;
          let tag = '';
          let simple = NaN;
          for (const [ff, , x] of fields(value as Uint8Array)) {
            if (ff === 1) tag = new TextDecoder().decode(x as Uint8Array);
            else if (ff === 2) simple = x as number;
          }
          event.scalars[tag] = simple;
        }
      }
    }
    events.push(event);
    pos += 16 + len;
  }
  return events;
}
