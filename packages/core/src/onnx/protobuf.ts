/**
 * The few protobuf wire-format pieces that ONNX files need (protobuf "Encoding" spec): varints,
 * little-endian floats and length-delimited fields. Messages are kept as lists of chunks, so that
 * nesting a message of several hundred MB of weights appends references instead of copying them.
 */

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const utf8 = new TextEncoder();

/** A protobuf message under construction. Fields are written in call order. */
export class ProtoMessage {
  readonly chunks: Uint8Array[] = [];
  byteLength = 0;
  #scratch: number[] = [];

  #flushScratch(): void {
    if (this.#scratch.length === 0) return;
    this.#push(Uint8Array.from(this.#scratch));
    this.#scratch = [];
  }

  #push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.byteLength += bytes.length;
  }

  #varint(value: number | bigint): void {
    // int64 fields encode negatives as ten-byte two's complement varints.
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.#scratch.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.#scratch.push(Number(v));
  }

  #tag(field: number, wire: number): void {
    this.#varint((field << 3) | wire);
  }

  /** int32 / int64 / enum / bool field. */
  int(field: number, value: number | bigint): this {
    this.#tag(field, WIRE_VARINT);
    this.#varint(value);
    return this;
  }

  /** float field (wire type 5). */
  float(field: number, value: number): this {
    this.#tag(field, WIRE_I32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    for (const x of b) this.#scratch.push(x);
    return this;
  }

  /** Packed repeated int64 (proto3 default for repeated scalars; proto2 parsers accept it too). */
  packedInts(field: number, values: readonly (number | bigint)[]): this {
    const inner = new ProtoMessage();
    for (const v of values) inner.#varint(v);
    return this.message(field, inner);
  }

  /** Packed repeated float. */
  packedFloats(field: number, values: readonly number[]): this {
    const b = new Uint8Array(4 * values.length);
    const view = new DataView(b.buffer);
    values.forEach((v, i) => view.setFloat32(4 * i, v, true));
    return this.bytes(field, b);
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  /** A length-delimited field holding `bytes` (kept by reference, not copied). */
  bytes(field: number, bytes: Uint8Array): this {
    this.#tag(field, WIRE_LEN);
    this.#varint(bytes.length);
    this.#flushScratch();
    this.#push(bytes);
    return this;
  }

  /** A nested message; its chunks are appended by reference. */
  message(field: number, inner: ProtoMessage): this {
    inner.#flushScratch();
    this.#tag(field, WIRE_LEN);
    this.#varint(inner.byteLength);
    this.#flushScratch();
    for (const c of inner.chunks) this.#push(c);
    return this;
  }

  /** The finished message's chunks, in order (write them one after another). */
  finish(): Uint8Array[] {
    this.#flushScratch();
    return this.chunks;
  }

  /** The finished message as one buffer. */
  toBytes(): Uint8Array {
    const chunks = this.finish();
    const out = new Uint8Array(this.byteLength);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** One decoded field: varints as bigint, length-delimited values as views into the input. */
export type ProtoField = { field: number; wire: 0; value: bigint } | { field: number; wire: 2; value: Uint8Array } | { field: number; wire: 1 | 5; value: Uint8Array };

/** Thrown for bytes that are not a well-formed protobuf message. */
export class ProtoDecodeError extends Error {}

/**
 * Splits a protobuf message into its fields (one level). Throws ProtoDecodeError for truncated
 * input, unknown wire types or lengths that run past the end.
 */
export function decodeFields(bytes: Uint8Array, where: string): ProtoField[] {
  const fields: ProtoField[] = [];
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (at >= bytes.length) throw new ProtoDecodeError(`${where}: truncated (a varint runs past the end at byte ${at})`);
      const b = bytes[at++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new ProtoDecodeError(`${where}: malformed varint at byte ${at}`);
    }
  };
  const take = (n: number): Uint8Array => {
    if (at + n > bytes.length) throw new ProtoDecodeError(`${where}: truncated (a field of ${n} bytes at byte ${at} runs past the end, ${bytes.length} bytes in all)`);
    const v = bytes.subarray(at, at + n);
    at += n;
    return v;
  };
  while (at < bytes.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0) throw new ProtoDecodeError(`${where}: field number 0 at byte ${at} (not a protobuf message)`);
    if (wire === WIRE_VARINT) fields.push({ field, wire, value: varint() });
    else if (wire === WIRE_LEN) fields.push({ field, wire, value: take(Number(varint())) });
    else if (wire === WIRE_I64) fields.push({ field, wire, value: take(8) });
    else if (wire === WIRE_I32) fields.push({ field, wire, value: take(4) });
    else throw new ProtoDecodeError(`${where}: unsupported wire type ${wire} for field ${field} at byte ${at} (not a protobuf message)`);
  }
  return fields;
}

export function decodeString(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
}
