/**
 * The stored samples of a one-channel PNG (palette indices or gray levels), read straight from the
 * file. libvips (sharp) expands palette images to RGB, which turns a VOC-style label map into
 * colours; label maps need the indices themselves, so this reads the chunks, inflates IDAT and
 * undoes the scanline filters (PNG spec, ISO/IEC 15948, sections 5-9) for bit depths 1/2/4/8/16.
 */
import { inflateSync } from 'node:zlib';

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  /** 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA. */
  colorType: number;
  interlace: number;
}

/** Where a PNG's one-channel samples could not be read; `unsupported` means "use another decoder". */
export class PngIndexError extends Error {
  override name = 'PngIndexError';
  constructor(
    message: string,
    readonly unsupported = false,
  ) {
    super(message);
  }
}

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((b, i) => bytes[i] === b);
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

interface Chunks {
  header: PngHeader;
  idat: Uint8Array[];
  palette?: Uint8Array;
}

function readChunks(bytes: Uint8Array): Chunks {
  if (!isPng(bytes)) throw new PngIndexError('not a PNG file (bad signature)');
  let o = 8;
  let header: PngHeader | undefined;
  const idat: Uint8Array[] = [];
  let palette: Uint8Array | undefined;
  while (o + 8 <= bytes.length) {
    const len = u32(bytes, o);
    const type = String.fromCharCode(bytes[o + 4]!, bytes[o + 5]!, bytes[o + 6]!, bytes[o + 7]!);
    const start = o + 8;
    if (start + len + 4 > bytes.length) throw new PngIndexError(`truncated PNG: chunk ${type} at byte ${o} runs past the end`);
    const data = bytes.subarray(start, start + len);
    if (type === 'IHDR') {
      if (len < 13) throw new PngIndexError('IHDR chunk too short');
      header = { width: u32(data, 0), height: u32(data, 4), bitDepth: data[8]!, colorType: data[9]!, interlace: data[12]! };
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'PLTE') palette = data.slice();
    else if (type === 'IEND') break;
    o = start + len + 4; // data + CRC
  }
  if (!header) throw new PngIndexError('PNG has no IHDR chunk');
  if (idat.length === 0) throw new PngIndexError('PNG has no IDAT chunk');
  return { header, idat, ...(palette ? { palette } : {}) };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Undoes the per-scanline filters in place; returns the unfiltered rows (without filter bytes). */
function unfilter(raw: Uint8Array, rowBytes: number, height: number, bpp: number): Uint8Array {
  const out = new Uint8Array(rowBytes * height);
  const stride = rowBytes + 1;
  if (raw.length < stride * height) throw new PngIndexError(`PNG image data too short: ${raw.length} bytes for ${height} rows of ${rowBytes}`);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * stride]!;
    const src = y * stride + 1;
    const dst = y * rowBytes;
    const up = dst - rowBytes;
    for (let x = 0; x < rowBytes; x++) {
      const v = raw[src + x]!;
      const a = x >= bpp ? out[dst + x - bpp]! : 0;
      const b = y > 0 ? out[up + x]! : 0;
      const c = y > 0 && x >= bpp ? out[up + x - bpp]! : 0;
      let r: number;
      switch (filter) {
        case 0: r = v; break;
        case 1: r = v + a; break;
        case 2: r = v + b; break;
        case 3: r = v + ((a + b) >> 1); break;
        case 4: r = v + paeth(a, b, c); break;
        default: throw new PngIndexError(`PNG row ${y}: unknown filter type ${filter}`);
      }
      out[dst + x] = r & 0xff;
    }
  }
  return out;
}

/**
 * The samples of a palette (colour type 3) or grayscale (colour type 0) PNG, one per pixel,
 * row-major: palette indices, or gray levels (16-bit levels must fit in 0..255). Other colour
 * types and interlaced gray files throw a PngIndexError with `unsupported` set (libvips reads
 * them right); an interlaced palette file is an error.
 */
export interface PngIndices {
  data: Uint8Array;
  width: number;
  height: number;
  header: PngHeader;
  /** The PLTE chunk (RGB triples) when the file has one. */
  palette?: Uint8Array;
}

export function decodePngIndices(bytes: Uint8Array): PngIndices {
  const { header, idat, palette } = readChunks(bytes);
  const { width, height, bitDepth, colorType, interlace } = header;
  if (colorType !== 0 && colorType !== 3) throw new PngIndexError(`colour type ${colorType} has more than one channel`, true);
  // Gray levels survive libvips, palette indices do not: only the palette case must fail here.
  if (interlace !== 0) throw new PngIndexError('interlaced (Adam7) PNG: not supported for palette label maps; re-save it without interlacing', colorType === 0);
  if (![1, 2, 4, 8, 16].includes(bitDepth) || (colorType === 3 && bitDepth === 16)) throw new PngIndexError(`invalid bit depth ${bitDepth} for colour type ${colorType}`);
  if (!(width > 0 && height > 0)) throw new PngIndexError(`invalid size ${width}x${height}`);
  let inflated: Uint8Array;
  try {
    inflated = inflateSync(idat.length === 1 ? idat[0]! : Buffer.concat(idat));
  } catch (err) {
    throw new PngIndexError(`corrupt PNG image data: ${(err as Error).message}`);
  }
  const rowBytes = Math.ceil((width * bitDepth) / 8);
  const rows = unfilter(inflated, rowBytes, height, Math.max(1, bitDepth / 8));
  const data = new Uint8Array(width * height);
  const extra = palette ? { palette } : {};
  if (bitDepth === 8) return { data: rows, width, height, header, ...extra };
  for (let y = 0; y < height; y++) {
    const r = y * rowBytes;
    const d = y * width;
    if (bitDepth === 16) {
      for (let x = 0; x < width; x++) {
        const v = (rows[r + 2 * x]! << 8) | rows[r + 2 * x + 1]!;
        if (v > 255) throw new PngIndexError(`16-bit label value ${v} at (${x}, ${y}) does not fit a uint8 label map`);
        data[d + x] = v;
      }
      continue;
    }
    const perByte = 8 / bitDepth;
    const mask = (1 << bitDepth) - 1;
    for (let x = 0; x < width; x++) {
      const byte = rows[r + Math.floor(x / perByte)]!;
      const shift = 8 - bitDepth * ((x % perByte) + 1);
      data[d + x] = (byte >> shift) & mask;
    }
  }
  return { data, width, height, header, ...extra };
}
