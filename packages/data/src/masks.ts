/**
 * Instance masks as bitmaps: the one place that rasterises polygons and decodes / encodes RLE for
 * the data and model packages, through the COCO mask API (@partialnet/coco). Masks there are
 * column-major (pycocotools' Fortran order); a *bitmap* here is row-major (y * width + x), so the
 * transposes happen here. Sizes are given as (height, width), as in COCO's `size` field.
 * Loads no image decoder: `@partialnet/data/masks`.
 */
import { decode, encode, frPoly, merge } from '@partialnet/coco';
import type { InstanceMask, RleLike } from './types.js';

function colToRow(col: Uint8Array, h: number, w: number, out = new Uint8Array(h * w)): Uint8Array {
  for (let x = 0; x < w; x++) {
    const base = x * h;
    for (let y = 0; y < h; y++) out[y * w + x] = col[base + y]!;
  }
  return out;
}

function rowToCol(row: Uint8Array, h: number, w: number): Uint8Array {
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    const base = y * w;
    for (let x = 0; x < w; x++) out[x * h + y] = row[base + x]!;
  }
  return out;
}

/** Rasterizes polygons (flat xy rings, absolute pixels) exactly as pycocotools does, as a row-major 0/1 bitmap. */
export function polygonsToBitmap(polygons: readonly (readonly number[])[], height: number, width: number): Uint8Array {
  const polys = polygons.filter((p) => p.length >= 6).map((p) => [...p]);
  if (polys.length === 0) return new Uint8Array(height * width);
  const rles = frPoly(polys, height, width);
  const rle = rles.length === 1 ? rles[0]! : merge(rles);
  return colToRow(decode(rle), height, width);
}

/** Decodes a COCO RLE (compressed or not) to a row-major 0/1 bitmap. */
export function rleToBitmap(rle: RleLike): { data: Uint8Array; height: number; width: number } {
  const [h, w] = rle.size;
  return { data: colToRow(decode(rle), h, w), height: h, width: w };
}

/** Encodes a row-major 0/1 bitmap as a compressed COCO RLE. */
export function bitmapToRle(bitmap: Uint8Array, height: number, width: number): RleLike {
  return encode(rowToCol(bitmap, height, width), height, width);
}

/**
 * An instance mask as a row-major 0/1 bitmap of height x width. Polygons are rasterised as
 * pycocotools does; a bitmap of another size (e.g. the padded batch) gives its top-left region,
 * zero-padded.
 */
export function instanceBitmap(mask: InstanceMask, height: number, width: number): Uint8Array {
  if (mask.kind === 'polygons') return polygonsToBitmap(mask.polygons, height, width);
  if (mask.width === width && mask.height === height) return mask.data;
  const out = new Uint8Array(height * width);
  const w = Math.min(width, mask.width);
  for (let y = 0; y < Math.min(height, mask.height); y++) out.set(mask.data.subarray(y * mask.width, y * mask.width + w), y * width);
  return out;
}
