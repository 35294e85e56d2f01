/**
 * The only module of this package that calls the COCO mask API (@partialnet/coco). Masks there
 * are column-major (pycocotools' Fortran order); in this package they are row-major
 * (y * width + x), so the transposes happen here.
 */
import { decode, encode, frPoly, merge } from '@partialnet/coco';
import type { RleLike } from './types.js';

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

/** Rasterizes polygons (flat xy rings, absolute pixels) exactly as pycocotools does, as a row-major 0/1 mask. */
export function polygonsToMask(polygons: readonly (readonly number[])[], height: number, width: number): Uint8Array {
  const polys = polygons.filter((p) => p.length >= 6).map((p) => [...p]);
  if (polys.length === 0) return new Uint8Array(height * width);
  const rles = frPoly(polys, height, width);
  const rle = rles.length === 1 ? rles[0]! : merge(rles);
  return colToRow(decode(rle), height, width);
}

/** Decodes a COCO RLE (compressed or not) to a row-major 0/1 mask. */
export function rleToMask(rle: RleLike): { data: Uint8Array; height: number; width: number } {
  const [h, w] = rle.size;
  return { data: colToRow(decode(rle), h, w), height: h, width: w };
}

/** Encodes a row-major 0/1 mask as a compressed COCO RLE. */
export function maskToRle(mask: Uint8Array, height: number, width: number): RleLike {
  return encode(rowToCol(mask, height, width), height, width);
}
