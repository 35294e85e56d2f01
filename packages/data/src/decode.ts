import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { decodePngIndices, isPng, PngIndexError } from './png-indices.js';
import type { LabelMap, RgbImage } from './types.js';

/** A missing, unreadable or corrupt image; names the file and the image id. */
export class ImageLoadError extends Error {
  override name = 'ImageLoadError';
  constructor(
    message: string,
    readonly file: string,
    readonly imageId: number | undefined,
    readonly reason: 'missing' | 'corrupt' | 'mismatch',
  ) {
    super(message);
  }
}

export interface DecodeContext {
  file?: string;
  imageId?: number;
}

function describe(ctx: DecodeContext): string {
  const id = ctx.imageId === undefined ? '' : ` (image id ${ctx.imageId})`;
  return `${ctx.file ?? '<buffer>'}${id}`;
}

async function readInput(input: string | Uint8Array, ctx: DecodeContext): Promise<Uint8Array> {
  if (typeof input !== 'string') return input;
  try {
    return await readFile(input);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'image file not found' : `cannot read image file (${code ?? String(err)})`;
    throw new ImageLoadError(`${what}: ${describe(ctx)}`, ctx.file ?? input, ctx.imageId, 'missing');
  }
}

/**
 * Decodes JPEG, PNG, WebP (anything libvips reads) to RGB uint8 HWC. EXIF orientation is applied;
 * grayscale, CMYK and 16-bit inputs are converted to 8-bit sRGB; an alpha channel is dropped
 * (as PIL's `convert('RGB')` does). Failures throw ImageLoadError naming the file and image id.
 */
export async function decodeImage(input: string | Uint8Array, ctx: DecodeContext = {}): Promise<RgbImage> {
  const file = ctx.file ?? (typeof input === 'string' ? input : undefined);
  const c: DecodeContext = { file, imageId: ctx.imageId };
  const bytes = await readInput(input, c);
  try {
    const { data, info } = await sharp(bytes, { autoOrient: true, failOn: 'error' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`unexpected channel count ${info.channels}`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new ImageLoadError(`cannot decode image ${describe(c)}: ${msg.trim()}`, file ?? '<buffer>', ctx.imageId, 'corrupt');
  }
}

/**
 * Decodes a label map (class ids; 255 = ignore) to the values the file stores: a palette PNG gives
 * its palette indices (not its colours), a grayscale PNG its levels. Other files (RGB PNGs,
 * interlaced PNGs, other formats) go through libvips and give their first channel.
 */
export async function decodeLabelMap(file: string, ctx: DecodeContext = {}): Promise<LabelMap> {
  const c: DecodeContext = { file, imageId: ctx.imageId };
  const bytes = await readInput(file, c);
  if (isPng(bytes)) {
    try {
      const { data, width, height } = decodePngIndices(bytes);
      return { data, width, height };
    } catch (err) {
      if (!(err instanceof PngIndexError && err.unsupported)) {
        const msg = err instanceof Error ? err.message : String(err);
        throw new ImageLoadError(`cannot decode label map ${describe(c)}: ${msg.trim()}`, file, ctx.imageId, 'corrupt');
      }
    }
  }
  try {
    const img = sharp(bytes, { failOn: 'error' });
    const { data, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    const n = info.width * info.height;
    let out: Uint8Array;
    if (info.channels === 1) out = new Uint8Array(data.buffer, data.byteOffset, n);
    else {
      // Grayscale stored as RGB(A): take the first channel.
      out = new Uint8Array(n);
      for (let i = 0, j = 0; i < n; i++, j += info.channels) out[i] = data[j]!;
    }
    return { data: out, width: info.width, height: info.height };
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new ImageLoadError(`cannot decode label map ${describe(c)}: ${msg.trim()}`, file, ctx.imageId, 'corrupt');
  }
}

/** Encodes an RGB image to PNG or JPEG bytes. */
export async function encodeImage(img: RgbImage, format: 'png' | 'jpeg' = 'png', quality = 90): Promise<Buffer> {
  const s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  return format === 'png' ? s.png({ compressionLevel: 6 }).toBuffer() : s.jpeg({ quality }).toBuffer();
}

/** Encodes a one-channel uint8 map as a grayscale PNG. */
export async function encodeLabelMap(map: LabelMap): Promise<Buffer> {
  return sharp(map.data, { raw: { width: map.width, height: map.height, channels: 1 } }).png({ compressionLevel: 6 }).toBuffer();
}
