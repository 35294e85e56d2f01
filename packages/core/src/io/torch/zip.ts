import { inflateRawSync } from '#platform';

/**
 * The small part of the ZIP format (PKWARE APPNOTE 6.3) that `torch.save` archives use.
 *
 * Reading: the end-of-central-directory record (and its zip64 form), central directory entries with
 * zip64 extra fields, stored (method 0) and deflated (method 8) entries, CRC-32 checked.
 * Writing mirrors PyTorch's `PyTorchStreamWriter`: stored entries, each local header padded with an
 * extra field (id "FB") so the data starts on a 64-byte boundary (PyTorch mmaps storages), a data
 * descriptor after each non-empty entry, and a zip64 end record before the classic one.
 */

const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const END_OF_CENTRAL = 0x06054b50;
const ZIP64_END = 0x06064b50;
const ZIP64_LOCATOR = 0x07064b50;
const DATA_DESCRIPTOR = 0x08074b50;
const PAD_EXTRA_ID = 0x4246; // "FB", PyTorch's padding record
const ZIP64_EXTRA_ID = 0x0001;
const FLAG_DATA_DESCRIPTOR = 0x0008;
const FLAG_UTF8 = 0x0800;

export interface ZipEntryInfo {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  localHeaderOffset: number;
}

export class ZipReader {
  readonly entries = new Map<string, ZipEntryInfo>();

  constructor(
    private readonly bytes: Uint8Array,
    private readonly source = '<buffer>',
  ) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const eocd = this.findEndOfCentralDirectory(view);
    let count = view.getUint16(eocd + 10, true);
    let cdSize = view.getUint32(eocd + 12, true);
    let cdOffset = view.getUint32(eocd + 16, true);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const locator = eocd - 20;
      if (locator < 0 || view.getUint32(locator, true) !== ZIP64_LOCATOR) this.fail('zip64 sizes without a zip64 end-of-central-directory locator');
      const end64 = this.safe(view.getBigUint64(locator + 8, true), 'zip64 end record offset');
      if (end64 + 56 > bytes.length || view.getUint32(end64, true) !== ZIP64_END) this.fail('zip64 end-of-central-directory record missing');
      count = this.safe(view.getBigUint64(end64 + 32, true), 'entry count');
      cdSize = this.safe(view.getBigUint64(end64 + 40, true), 'central directory size');
      cdOffset = this.safe(view.getBigUint64(end64 + 48, true), 'central directory offset');
    }
    if (cdOffset + cdSize > bytes.length) this.fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) runs past the ${bytes.length}-byte file (truncated?)`);
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      if (p + 46 > bytes.length || view.getUint32(p, true) !== CENTRAL_HEADER) this.fail(`central directory entry ${i} is damaged`);
      const method = view.getUint16(p + 10, true);
      const crc32 = view.getUint32(p + 16, true);
      let compressedSize = view.getUint32(p + 20, true);
      let size = view.getUint32(p + 24, true);
      const nameLength = view.getUint16(p + 28, true);
      const extraLength = view.getUint16(p + 30, true);
      const commentLength = view.getUint16(p + 32, true);
      let localHeaderOffset = view.getUint32(p + 42, true);
      const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLength));
      // zip64 extra: the 8-byte values appear in this order, only for the fields set to 0xffffffff.
      let e = p + 46 + nameLength;
      const extraEnd = e + extraLength;
      while (e + 4 <= extraEnd) {
        const id = view.getUint16(e, true);
        const len = view.getUint16(e + 2, true);
        if (id === ZIP64_EXTRA_ID) {
          let q = e + 4;
          if (size === 0xffffffff) { size = this.safe(view.getBigUint64(q, true), 'size'); q += 8; }
          if (compressedSize === 0xffffffff) { compressedSize = this.safe(view.getBigUint64(q, true), 'compressed size'); q += 8; }
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = this.safe(view.getBigUint64(q, true), 'header offset');
        }
        e += 4 + len;
      }
      this.entries.set(name, { name, method, compressedSize, size, crc32, localHeaderOffset });
      p = extraEnd + commentLength;
    }
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The entry's bytes; stored entries are views into the archive buffer (no copy). */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (!entry) this.fail(`no entry '${name}'`);
    const { method, compressedSize, size, localHeaderOffset } = entry!;
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    if (localHeaderOffset + 30 > this.bytes.length || view.getUint32(localHeaderOffset, true) !== LOCAL_HEADER) {
      this.fail(`entry '${name}': local header at ${localHeaderOffset} is damaged`);
    }
    const start = localHeaderOffset + 30 + view.getUint16(localHeaderOffset + 26, true) + view.getUint16(localHeaderOffset + 28, true);
    if (start + compressedSize > this.bytes.length) this.fail(`entry '${name}' runs past the end of the file (truncated?)`);
    const raw = this.bytes.subarray(start, start + compressedSize);
    let data: Uint8Array;
    if (method === 0) data = raw;
    else if (method === 8) data = new Uint8Array(inflateRawSync(raw));
    else return this.fail(`entry '${name}': compression method ${method} is not supported (stored and deflate are)`);
    if (data.length !== size) this.fail(`entry '${name}': ${data.length} bytes, the directory says ${size}`);
    if (crc32(data) !== entry!.crc32) this.fail(`entry '${name}': CRC-32 mismatch (damaged file)`);
    return data;
  }

  private findEndOfCentralDirectory(view: DataView): number {
    // The record is 22 bytes plus a comment of at most 65535 bytes, at the very end.
    const min = Math.max(0, this.bytes.length - 22 - 0xffff);
    for (let p = this.bytes.length - 22; p >= min; p--) {
      if (view.getUint32(p, true) === END_OF_CENTRAL) return p;
    }
    return this.fail('not a zip archive (no end-of-central-directory record)');
  }

  private safe(v: bigint, what: string): number {
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is too large`);
    return Number(v);
  }

  private fail(msg: string): never {
    throw new Error(`zip ${this.source}: ${msg}`);
  }
}

export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

export interface ZipWriteEntry {
  name: string;
  data: Uint8Array;
}

/** Writes a stored archive laid out as PyTorch writes it (see the file comment). */
export function writeZip(entries: readonly ZipWriteEntry[], align = 64): Uint8Array {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const push = (b: Uint8Array): void => {
    parts.push(b);
    offset += b.length;
  };
  for (const { name, data } of entries) {
    const nameBytes = encoder.encode(name);
    const crc = crc32(data);
    const localOffset = offset;
    // Pad so that the data starts on an `align` boundary. Like PyTorch, every entry carries the
    // padding field, with zero padding bytes when the data is aligned already.
    const unpadded = offset + 30 + nameBytes.length + 4;
    const extraLength = 4 + ((align - (unpadded % align)) % align);
    const flags = data.length > 0 ? FLAG_DATA_DESCRIPTOR | FLAG_UTF8 : FLAG_UTF8;
    const local = new Uint8Array(30 + nameBytes.length + extraLength);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, LOCAL_HEADER, true);
    lv.setUint16(6, flags, true);
    // version, method, time, date stay 0; with a data descriptor crc and sizes follow the data.
    if (!(flags & FLAG_DATA_DESCRIPTOR)) {
      lv.setUint32(14, crc, true);
    }
    lv.setUint16(26, nameBytes.length, true);
    lv.setUint16(28, extraLength, true);
    local.set(nameBytes, 30);
    lv.setUint16(30 + nameBytes.length, PAD_EXTRA_ID, true);
    lv.setUint16(32 + nameBytes.length, extraLength - 4, true);
    local.fill(0x5a, 34 + nameBytes.length); // 'Z', as PyTorch pads
    push(local);
    push(data);
    if (flags & FLAG_DATA_DESCRIPTOR) {
      const dd = new Uint8Array(16);
      const dv = new DataView(dd.buffer);
      dv.setUint32(0, DATA_DESCRIPTOR, true);
      dv.setUint32(4, crc, true);
      dv.setUint32(8, data.length, true);
      dv.setUint32(12, data.length, true);
      push(dd);
    }
    const c = new Uint8Array(46 + nameBytes.length);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, CENTRAL_HEADER, true);
    cv.setUint16(8, flags, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint32(42, localOffset, true);
    c.set(nameBytes, 46);
    central.push(c);
  }
  if (offset > 0xfffffffe) throw new Error('writeZip: archives over 4 GiB are not supported by this writer');
  const cdOffset = offset;
  for (const c of central) push(c);
  const cdSize = offset - cdOffset;
  const end64Offset = offset;
  const end64 = new Uint8Array(56);
  const ev = new DataView(end64.buffer);
  ev.setUint32(0, ZIP64_END, true);
  ev.setBigUint64(4, 44n, true);
  ev.setUint16(12, 0x031e, true); // made by: unix, 3.0 (as miniz writes)
  ev.setUint16(14, 45, true); // needed: 4.5 (zip64)
  ev.setBigUint64(24, BigInt(entries.length), true);
  ev.setBigUint64(32, BigInt(entries.length), true);
  ev.setBigUint64(40, BigInt(cdSize), true);
  ev.setBigUint64(48, BigInt(cdOffset), true);
  push(end64);
  const locator = new Uint8Array(20);
  const lo = new DataView(locator.buffer);
  lo.setUint32(0, ZIP64_LOCATOR, true);
  lo.setBigUint64(8, BigInt(end64Offset), true);
  lo.setUint32(16, 1, true);
  push(locator);
  const end = new Uint8Array(22);
  const env = new DataView(end.buffer);
  env.setUint32(0, END_OF_CENTRAL, true);
  env.setUint16(8, entries.length, true);
  env.setUint16(10, entries.length, true);
  env.setUint32(12, cdSize, true);
  env.setUint32(16, cdOffset, true);
  push(end);
  const out = new Uint8Array(offset);
  let p = 0;
  for (const b of parts) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}

let crcTable: Uint32Array | undefined;

export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
