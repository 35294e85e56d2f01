/**
 * The pycocotools.mask API over plain objects: masks are Uint8Arrays in column-major (Fortran)
 * order, RLEs are `{ size: [h, w], counts }` with `counts` a compressed string (as written by
 * maskApi.c) or an array of run lengths (uncompressed RLE).
 */
import { rleFrBbox, rleFrPoly } from './polygon.js';
import {
  type Rle,
  bbIou,
  rleArea,
  rleDecode,
  rleEncode,
  rleFrString,
  rleIou,
  rleMerge,
  rleToBbox,
  rleToString,
} from './rle.js';

export interface RleObject {
  size: [number, number];
  counts: string | number[];
}
export interface CompressedRle extends RleObject {
  counts: string;
}
export interface UncompressedRle extends RleObject {
  counts: number[];
}
/** [x, y, width, height] */
export type Box = [number, number, number, number];
/** One polygon, [x0, y0, x1, y1, ...]. */
export type Polygon = number[];

export function isRleObject(v: unknown): v is RleObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'size' in v && 'counts' in v;
}

/** Parses an RLE object (compressed or not) into runs. */
export function toRle(obj: RleObject): Rle {
  const [h, w] = obj.size;
  if (typeof obj.counts === 'string') return rleFrString(obj.counts, h, w);
  return { h, w, cnts: Uint32Array.from(obj.counts) };
}

export function fromRle(r: Rle): CompressedRle {
  return { size: [r.h, r.w], counts: rleToString(r) };
}

/** Encodes a column-major binary mask of h x w. */
export function encode(mask: ArrayLike<number>, h: number, w: number): CompressedRle {
  return fromRle(rleEncode(mask, h, w));
}

/** Decodes to a column-major Uint8Array (h*w); a list decodes to n masks back to back (Fortran h x w x n). */
export function decode(rle: RleObject): Uint8Array;
export function decode(rles: readonly RleObject[]): Uint8Array;
export function decode(rles: RleObject | readonly RleObject[]): Uint8Array {
  if (!Array.isArray(rles)) {
    const r = toRle(rles as RleObject);
    return rleDecode(r);
  }
  const list = rles as readonly RleObject[];
  if (list.length === 0) return new Uint8Array(0);
  const [h, w] = list[0]!.size;
  const out = new Uint8Array(h * w * list.length);
  list.forEach((o, i) => {
    if (o.size[0] !== h || o.size[1] !== w) throw new RangeError(`decode: rles[${i}] is ${o.size.join('x')}, rles[0] is ${h}x${w}`);
    rleDecode(toRle(o), out, i * h * w);
  });
  return out;
}

export function area(rle: RleObject): number;
export function area(rles: readonly RleObject[]): number[];
export function area(rles: RleObject | readonly RleObject[]): number | number[] {
  if (Array.isArray(rles)) return (rles as readonly RleObject[]).map((r) => rleArea(toRle(r)));
  return rleArea(toRle(rles as RleObject));
}

export function toBbox(rle: RleObject): Box;
export function toBbox(rles: readonly RleObject[]): Box[];
export function toBbox(rles: RleObject | readonly RleObject[]): Box | Box[] {
  const one = (r: RleObject): Box => rleToBbox(toRle(r), [0, 0, 0, 0]) as Box;
  if (Array.isArray(rles)) return (rles as readonly RleObject[]).map(one);
  return one(rles as RleObject);
}

/** Union of the masks, or their intersection with `intersect`. */
export function merge(rles: readonly RleObject[], intersect = false): CompressedRle {
  return fromRle(rleMerge(rles.map(toRle), intersect));
}

/**
 * IoU of every detection with every ground truth: result[d][g]. Both sides are boxes or both
 * are RLEs; with iscrowd[g] the union is the detection's area. An empty side gives [].
 * For RLEs of different sizes the entry is -1 (maskApi.c).
 */
export function iou(dt: readonly Box[], gt: readonly Box[], iscrowd: ArrayLike<number | boolean>): number[][];
export function iou(dt: readonly RleObject[], gt: readonly RleObject[], iscrowd: ArrayLike<number | boolean>): number[][];
export function iou(dt: readonly (Box | RleObject)[], gt: readonly (Box | RleObject)[], iscrowd: ArrayLike<number | boolean>): number[][] {
  const m = dt.length;
  const n = gt.length;
  if (m === 0 || n === 0) return [];
  if (iscrowd.length !== n) throw new RangeError(`iou: iscrowd has ${iscrowd.length} entries for ${n} ground truths`);
  const crowd = Uint8Array.from({ length: n }, (_, i) => (iscrowd[i] ? 1 : 0));
  const o = new Float64Array(m * n);
  const boxes = (l: readonly (Box | RleObject)[], side: string): Float64Array => {
    const b = new Float64Array(l.length * 4);
    l.forEach((x, i) => {
      if (!Array.isArray(x) || x.length !== 4) throw new TypeError(`iou: ${side}[${i}] is not a box while ${side}[0] is`);
      b.set(x, i * 4);
    });
    return b;
  };
  if (Array.isArray(dt[0]) && Array.isArray(gt[0])) {
    bbIou(boxes(dt, 'dt'), boxes(gt, 'gt'), m, n, crowd, o);
  } else if (isRleObject(dt[0]) && isRleObject(gt[0])) {
    const toR = (l: readonly (Box | RleObject)[], side: string): Rle[] =>
      l.map((x, i) => {
        if (!isRleObject(x)) throw new TypeError(`iou: ${side}[${i}] is not an RLE while ${side}[0] is`);
        return toRle(x);
      });
    rleIou(toR(dt, 'dt'), toR(gt, 'gt'), crowd, o);
  } else {
    throw new TypeError('iou: dt and gt must both be boxes [x, y, w, h] or both RLEs');
  }
  const out: number[][] = [];
  for (let d = 0; d < m; d++) out.push(Array.from(o.subarray(d * n, d * n + n)));
  return out;
}

/** One RLE per polygon (not merged). */
export function frPoly(polys: readonly Polygon[], h: number, w: number): CompressedRle[] {
  return polys.map((p) => fromRle(rleFrPoly(p, p.length >> 1, h, w)));
}

export function frBbox(boxes: readonly Box[] | readonly number[][], h: number, w: number): CompressedRle[] {
  return boxes.map((b) => fromRle(rleFrBbox(b, h, w)));
}

/** Compresses uncompressed RLEs; each keeps its own size, as pycocotools does. */
export function frUncompressed(rles: readonly RleObject[], _h?: number, _w?: number): CompressedRle[] {
  return rles.map((r) => fromRle(toRle(r)));
}

/**
 * pycocotools' frPyObjects dispatch: a list of boxes (4 numbers), a list of polygons (more than 4
 * numbers), a list of uncompressed RLEs, or a single uncompressed RLE (which returns a single RLE).
 */
export function frPyObjects(obj: RleObject, h: number, w: number): CompressedRle;
export function frPyObjects(obj: readonly (Polygon | Box | RleObject)[], h: number, w: number): CompressedRle[];
export function frPyObjects(obj: RleObject | readonly (Polygon | Box | RleObject)[], h: number, w: number): CompressedRle | CompressedRle[] {
  if (!Array.isArray(obj)) {
    if (isRleObject(obj)) return fromRle(toRle(obj));
    throw new TypeError('frPyObjects: input type is not supported');
  }
  const list = obj as readonly (Polygon | Box | RleObject)[];
  if (list.length === 0) return [];
  const first = list[0];
  if (Array.isArray(first) && first.length === 4) return frBbox(list as Box[], h, w);
  if (Array.isArray(first) && first.length > 4) return frPoly(list as Polygon[], h, w);
  if (isRleObject(first)) return frUncompressed(list as RleObject[], h, w);
  throw new TypeError('frPyObjects: input type is not supported');
}
