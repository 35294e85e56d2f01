/**
 * Run-length encoded binary masks, the representation of maskApi.c: runs over the column-major
 * (Fortran) flattening of an h x w mask, alternating zeros and ones, starting with zeros.
 * Every routine here mirrors the arithmetic of maskApi.c so that results are bit-identical.
 */
export interface Rle {
  readonly h: number;
  readonly w: number;
  /** Run lengths; may start with a 0 when the first pixel is set. */
  readonly cnts: Uint32Array;
}

export function rleEncode(mask: ArrayLike<number>, h: number, w: number): Rle {
  const a = h * w;
  if (mask.length < a) throw new RangeError(`encode: mask has ${mask.length} values, expected h*w = ${a}`);
  const cnts = new Uint32Array(a + 1);
  let k = 0;
  let p = 0;
  let c = 0;
  for (let j = 0; j < a; j++) {
    const v = mask[j] ? 1 : 0;
    if (v !== p) {
      cnts[k++] = c;
      c = 0;
      p = v;
    }
    c++;
  }
  cnts[k++] = c;
  return { h, w, cnts: cnts.slice(0, k) };
}

export function rleDecode(r: Rle, out = new Uint8Array(r.h * r.w), offset = 0): Uint8Array {
  let pos = offset;
  let v = 0;
  const end = offset + r.h * r.w;
  for (let j = 0; j < r.cnts.length; j++) {
    const n = r.cnts[j]!;
    if (pos + n > end) throw new RangeError(`decode: runs sum past h*w = ${r.h * r.w}`);
    if (v) out.fill(1, pos, pos + n);
    pos += n;
    v ^= 1;
  }
  return out;
}

export function rleArea(r: Rle): number {
  let a = 0;
  const c = r.cnts;
  for (let j = 1; j < c.length; j += 2) a += c[j]!;
  return a;
}

/** Sum of all runs: must equal h*w for a well-formed RLE. */
export function rleLength(r: Rle): number {
  let s = 0;
  for (let j = 0; j < r.cnts.length; j++) s += r.cnts[j]!;
  return s;
}

/** [x, y, w, h] of the set pixels, computed the way rleToBbox does (a run spanning columns covers all rows). */
export function rleToBbox(r: Rle, out: Float64Array | number[] = new Float64Array(4), o = 0): Float64Array | number[] {
  runsBbox(r.cnts, 0, r.cnts.length, r.h, r.w, out, o);
  return out;
}

/**
 * Entries of a mask summary (runsSummary, rleStringSummary): [x, y, w, h] as rleToBbox, the area,
 * the sum of the runs (h*w when well formed), and plainArea's value (the area, or -1).
 */
export const SUMMARY_LENGTH = 7;

/** plainSummary's output for rleToBbox, whose `out` has room for the box only. */
const bboxScratch = new Float64Array(SUMMARY_LENGTH);

/** rleToBbox over the k runs cnts[at, at + k). */
function runsBbox(cnts: Uint32Array, at: number, k: number, h: number, w: number, out: Float64Array | number[], o: number): void {
  if (plainSummary(cnts, at, k, h, w, bboxScratch, 0)) {
    for (let c = 0; c < 4; c++) out[o + c] = bboxScratch[c]!;
    return;
  }
  const m = k - (k % 2);
  if (m === 0 || h === 0) out[o] = out[o + 1] = out[o + 2] = out[o + 3] = 0;
  else runsBboxExact(cnts, at, m, h, w, out, o);
}

/**
 * runsSummary's summary of the m runs cnts[at, at + m) in int32 arithmetic, one step per pair of
 * runs, when they allow it: at least one pair, h a whole number below 2^31, every run of ones
 * non-empty and a total below 2^31 (so maskApi.c's unsigned positions never wrap). Returns false,
 * writing nothing, otherwise.
 *
 * Plain runs put every run of ones after the last, so the box's columns are those of the first
 * pixel and the last; its rows are the least first row and the greatest last row, or all rows
 * once a run of ones spans two columns, which is what maskApi.c's min/max over every run gives.
 * The column and row of the position are followed instead of divided out at each run.
 */
function plainSummary(cnts: Uint32Array, at: number, m: number, h: number, w: number, out: Float64Array, o: number): boolean {
  if (m < 2 || !(h > 0 && h < 2147483648 && Number.isInteger(h))) return false;
  const hh = h | 0;
  const e = at + m - (m & 1);
  // the position after the runs read so far is x * hh + y; 0 <= y < hh after a run of zeros,
  // 0 < y <= hh after a run of ones (y = hh: it ended at the bottom of column x)
  let x = 0;
  let y = 0;
  let xs = 0;
  let ys = hh;
  // one past the greatest last row
  let ye1 = 1;
  let spans = false;
  let area = 0;
  // an empty run of zeros after the first makes the runs other than plain (see plainArea)
  let emptyZeros = false;
  for (let j = at; j < e; j += 2) {
    const zeros = cnts[j]! | 0;
    const ones = cnts[j + 1]! | 0;
    // a run of 2^31 or more reads negative
    if ((zeros | (ones - 1)) < 0) return false;
    if (zeros === 0 && j !== at) emptyZeros = true;
    y += zeros;
    if (y >= hh) {
      if (y < hh + hh) {
        y -= hh;
        x++;
      } else {
        const q = (y / hh) | 0;
        x += q;
        y -= q * hh;
      }
    }
    // the first pixel of the run of ones is at (x, y); maskApi.c starts xs at w
    if (j === at) xs = x < w ? x : w;
    ys = Math.min(ys, y);
    area += ones;
    y += ones;
    if (y > hh) {
      spans = true;
      const q = ((y - 1) / hh) | 0;
      x += q;
      y -= q * hh;
    } else ye1 = Math.max(ye1, y);
  }
  const last = m & 1 ? cnts[e]! : -1;
  const total = x * hh + y + (last > 0 ? last : 0);
  if (total >= 2147483648) return false;
  if (spans) {
    ys = 0;
    ye1 = hh;
  }
  out[o] = xs;
  out[o + 1] = ys;
  out[o + 2] = x - xs + 1;
  out[o + 3] = ye1 - ys;
  out[o + 4] = area;
  out[o + 5] = total;
  out[o + 6] = !emptyZeros && last !== 0 && total === h * w ? area : -1;
  return true;
}

/** rleToBbox's loop as maskApi.c writes it, with its unsigned wrap-around. */
function runsBboxExact(cnts: Uint32Array, at: number, m: number, h: number, w: number, out: Float64Array | number[], o: number): void {
  let xs = w;
  let ys = h;
  let xe = 0;
  let ye = 0;
  let cc = 0;
  let xp = 0;
  for (let j = 0; j < m; j++) {
    cc = (cc + cnts[at + j]!) >>> 0;
    // unsigned arithmetic as in C: t wraps when a run of ones is empty at the very start
    const t = (cc - (j % 2)) >>> 0;
    const y = t % h;
    const x = (t - y) / h;
    if (j % 2 === 0) xp = x;
    else if (xp < x) {
      ys = 0;
      ye = h - 1;
    }
    if (x < xs) xs = x;
    if (x > xe) xe = x;
    if (y < ys) ys = y;
    if (y > ye) ye = y;
  }
  out[o] = xs;
  out[o + 2] = xe - xs + 1;
  out[o + 1] = ys;
  out[o + 3] = ye - ys + 1;
}

/** Union (or intersection) of RLEs of the same size; a size mismatch gives an empty 0x0 RLE as in maskApi.c. */
export function rleMerge(rles: readonly Rle[], intersect: boolean): Rle {
  const n = rles.length;
  if (n === 0) return { h: 0, w: 0, cnts: new Uint32Array(0) };
  const first = rles[0]!;
  if (n === 1) return { h: first.h, w: first.w, cnts: first.cnts.slice() };
  let h = first.h;
  let w = first.w;
  let cur: Uint32Array = first.cnts;
  const out = new Uint32Array(h * w + 1);
  let m = 0;
  for (let i = 1; i < n; i++) {
    const B = rles[i]!;
    if (B.h !== h || B.w !== w) {
      h = w = 0;
      cur = new Uint32Array(0);
      break;
    }
    const A = cur;
    const am = A.length;
    const bm = B.cnts.length;
    let ca = am > 0 ? A[0]! : 0;
    let cb = bm > 0 ? B.cnts[0]! : 0;
    let v = 0;
    let va = 0;
    let vb = 0;
    let a = 1;
    let b = 1;
    let cc = 0;
    let ct = 1;
    m = 0;
    while (ct > 0) {
      const c = ca < cb ? ca : cb;
      cc += c;
      ct = 0;
      ca -= c;
      if (!ca && a < am) {
        ca = A[a++]!;
        va ^= 1;
      }
      ct += ca;
      cb -= c;
      if (!cb && b < bm) {
        cb = B.cnts[b++]!;
        vb ^= 1;
      }
      ct += cb;
      const vp = v;
      v = intersect ? va & vb : va | vb;
      if (v !== vp || ct === 0) {
        out[m++] = cc;
        cc = 0;
      }
    }
    cur = out.slice(0, m);
  }
  return { h, w, cnts: h === 0 && w === 0 ? new Uint32Array(0) : cur };
}

/**
 * IoU of boxes [x, y, w, h] as bbIou: for a crowd gt the union is the detection's area.
 * Writes o[d * n + g] (row per detection), i.e. the [m, n] matrix pycocotools returns.
 */
export function bbIou(dt: ArrayLike<number>, gt: ArrayLike<number>, m: number, n: number, iscrowd: ArrayLike<number> | null, o: Float64Array, oOff = 0): void {
  for (let g = 0; g < n; g++) {
    const G0 = gt[g * 4]!;
    const G1 = gt[g * 4 + 1]!;
    const G2 = gt[g * 4 + 2]!;
    const G3 = gt[g * 4 + 3]!;
    const ga = G2 * G3;
    const crowd = iscrowd !== null && !!iscrowd[g];
    for (let d = 0; d < m; d++) {
      const D0 = dt[d * 4]!;
      const D1 = dt[d * 4 + 1]!;
      const D2 = dt[d * 4 + 2]!;
      const D3 = dt[d * 4 + 3]!;
      const da = D2 * D3;
      const idx = oOff + d * n + g;
      o[idx] = 0;
      const ww = Math.min(D2 + D0, G2 + G0) - Math.max(D0, G0);
      if (ww <= 0) continue;
      const hh = Math.min(D3 + D1, G3 + G1) - Math.max(D1, G1);
      if (hh <= 0) continue;
      const i = ww * hh;
      const u = crowd ? da : da + ga - i;
      o[idx] = i / u;
    }
  }
}

/** Intersection of two same-size RLEs, by walking both run lists (the inner loop of rleIou). */
export function rleIntersection(A: Uint32Array, B: Uint32Array): { inter: number; union: number } {
  const ka = A.length;
  const kb = B.length;
  let ca = ka > 0 ? A[0]! : 0;
  let cb = kb > 0 ? B[0]! : 0;
  let va = 0;
  let vb = 0;
  let a = 1;
  let b = 1;
  let i = 0;
  let u = 0;
  let ct = 1;
  while (ct > 0) {
    const c = ca < cb ? ca : cb;
    if (va || vb) {
      u += c;
      if (va && vb) i += c;
    }
    ct = 0;
    ca -= c;
    if (!ca && a < ka) {
      ca = A[a++]!;
      va ^= 1;
    }
    ct += ca;
    cb -= c;
    if (!cb && b < kb) {
      cb = B[b++]!;
      vb ^= 1;
    }
    ct += cb;
  }
  return { inter: i, union: u };
}

/**
 * Pixels set in both masks, from their intervals of ones only, stopping when either mask has no
 * more. Equals rleIntersection's count when both RLEs are plain (see isPlainRle); it visits half
 * the runs (and fewer still when one mask ends early), so rleIou uses it where it can.
 */
export function rleOverlap(A: Uint32Array, B: Uint32Array): number {
  const ka = A.length;
  const kb = B.length;
  if (ka < 2 || kb < 2) return 0;
  let ia = 1;
  let ib = 1;
  let as = A[0]!;
  let ae = as + A[1]!;
  let bs = B[0]!;
  let be = bs + B[1]!;
  let inter = 0;
  for (;;) {
    const lo = as > bs ? as : bs;
    const hi = ae < be ? ae : be;
    if (hi > lo) inter += hi - lo;
    if (ae <= be) {
      if (ia + 2 >= ka) break;
      as = ae + A[ia + 1]!;
      ae = as + A[ia + 2]!;
      ia += 2;
    } else {
      if (ib + 2 >= kb) break;
      bs = be + B[ib + 1]!;
      be = bs + B[ib + 2]!;
      ib += 2;
    }
  }
  return inter;
}

/**
 * Area of an RLE when it is plain: its runs sum to h*w and no run after the first is empty. For
 * two plain RLEs of one size, rleIntersection's walk visits every pixel, so its union is exactly
 * areaA + areaB - inter. Returns -1 otherwise (an empty inner run can end that walk early in
 * maskApi.c, a quirk that only the walk itself reproduces).
 */
export function plainArea(r: Rle): number {
  const c = r.cnts;
  let total = c.length > 0 ? c[0]! : 0;
  let area = 0;
  for (let j = 1; j < c.length; j++) {
    const n = c[j]!;
    if (n === 0) return -1;
    total += n;
    if (j & 1) area += n;
  }
  return total === r.h * r.w ? area : -1;
}

/** rleIou's plain areas of one call (reused: one typed array per call cost more than the IoUs). */
let areaBuf = new Float64Array(256);

/** What a caller of rleIou may know already, and how exact it needs the IoUs. */
export interface RleIouOptions {
  /** rleToBbox of each detection / ground truth (computed when absent). */
  dtBoxes?: Float64Array;
  gtBoxes?: Float64Array;
  /** The union for a crowd ground truth (default: the detection's mask area). */
  dtArea?: ArrayLike<number>;
  /** plainArea of each detection where known, NaN where not (then measured when needed). */
  dtPlainArea?: ArrayLike<number>;
  /**
   * IoUs that cannot reach it may be written as 0 without walking their runs: the intersection
   * is at most the least of the two areas and the boxes' intersection, and the IoU grows with the
   * intersection, so that bound's IoU (rounded the same way, and rounding is monotone) bounds it.
   * For callers that only compare IoUs with thresholds of at least floor, as COCOeval's matching
   * does; about half of the overlapping pairs of a typical evaluation fall below 0.5 this way.
   */
  floor?: number;
}

/**
 * rleIou: a box pre-check (zero box IoU means zero), then exact run intersection; -1 where sizes
 * differ. Writes o[oOff + d * n + g].
 */
export function rleIou(
  dt: readonly Rle[],
  gt: readonly Rle[],
  iscrowd: ArrayLike<number> | null,
  o: Float64Array,
  oOff = 0,
  opts: RleIouOptions = {},
): void {
  const m = dt.length;
  const n = gt.length;
  const db = opts.dtBoxes ?? boxesOf(dt);
  const gb = opts.gtBoxes ?? boxesOf(gt);
  const dtArea = opts.dtArea;
  const floor = opts.floor ?? 0;
  bbIou(db, gb, m, n, iscrowd, o, oOff);
  // plain areas, measured when a pair first needs them (NaN: not yet)
  if (areaBuf.length < n + m) areaBuf = new Float64Array((n + m) * 2);
  const gArea = areaBuf;
  const dArea = areaBuf.subarray(n);
  gArea.fill(NaN, 0, n);
  const known = opts.dtPlainArea;
  if (known) for (let d = 0; d < m; d++) dArea[d] = known[d]!;
  else dArea.fill(NaN, 0, m);
  for (let g = 0; g < n; g++) {
    const G = gt[g]!;
    const crowd = iscrowd !== null && !!iscrowd[g];
    for (let d = 0; d < m; d++) {
      const idx = oOff + d * n + g;
      if (!(o[idx]! > 0)) continue;
      const D = dt[d]!;
      if (D.h !== G.h || D.w !== G.w) {
        o[idx] = -1;
        continue;
      }
      let ga = gArea[g]!;
      if (ga !== ga) ga = gArea[g] = plainArea(G);
      let da = dArea[d]!;
      if (da !== da) da = dArea[d] = plainArea(D);
      let inter: number;
      let u: number;
      if (ga >= 0 && da >= 0) {
        if (floor > 0) {
          // the masks' boxes overlap (the box IoU was > 0), so both sides are positive
          const bw = Math.min(db[d * 4]! + db[d * 4 + 2]!, gb[g * 4]! + gb[g * 4 + 2]!) - Math.max(db[d * 4]!, gb[g * 4]!);
          const bh = Math.min(db[d * 4 + 1]! + db[d * 4 + 3]!, gb[g * 4 + 1]! + gb[g * 4 + 3]!) - Math.max(db[d * 4 + 1]!, gb[g * 4 + 1]!);
          const most = Math.min(bw * bh, da, ga);
          if ((crowd ? most / (dtArea ? dtArea[d]! : da) : most / (da + ga - most)) < floor) {
            o[idx] = 0;
            continue;
          }
        }
        inter = rleOverlap(D.cnts, G.cnts);
        u = da + ga - inter;
      } else {
        const r = rleIntersection(D.cnts, G.cnts);
        inter = r.inter;
        u = r.union;
      }
      if (inter === 0) u = 1;
      else if (crowd) u = dtArea ? dtArea[d]! : rleArea(D);
      o[idx] = inter / u;
    }
  }
}

export function boxesOf(rles: readonly Rle[]): Float64Array {
  const out = new Float64Array(rles.length * 4);
  for (let i = 0; i < rles.length; i++) rleToBbox(rles[i]!, out, i * 4);
  return out;
}

/** COCO's compressed string: 6-bit chars from 48, 5 data bits + continuation, delta to the run two back. */
export function rleToString(r: Rle): string {
  const cnts = r.cnts;
  const parts: number[] = [];
  for (let i = 0; i < cnts.length; i++) {
    let x = cnts[i]!;
    if (i > 2) x -= cnts[i - 2]!;
    let more = true;
    while (more) {
      // floor division keeps the arithmetic-shift semantics for negatives beyond 32 bits
      const c0 = x - Math.floor(x / 32) * 32;
      x = Math.floor(x / 32);
      let c = c0;
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      parts.push(c + 48);
    }
  }
  return bytesToString(parts);
}

function bytesToString(codes: number[]): string {
  let s = '';
  const step = 8192;
  for (let i = 0; i < codes.length; i += step) s += String.fromCharCode.apply(null, codes.slice(i, i + step));
  return s;
}

/** Decoded runs of the last decodeCounts call (allocation dominates for short strings). */
let scratch = new Uint32Array(1024);
/** A string's character codes, copied for decodeCounts (codes above 255 read as 255, outside the alphabet too). */
let codes = new Uint8Array(1024);

/** Inverse of rleToString. Throws on characters outside the alphabet, so corrupt input is reported. */
export function rleFrString(s: string, h: number, w: number): Rle {
  const m = decodeString(s);
  return { h, w, cnts: scratch.slice(0, m) };
}

/**
 * Runs of many masks end to end (the compressed masks of a results file): one typed array instead
 * of one per mask, whose allocation and collection cost more than the decoding.
 */
export class RunStore {
  data = new Uint32Array(1 << 16);
  length = 0;
  /** Room for n more runs at data[length...]. */
  reserve(n: number): void {
    if (this.length + n <= this.data.length) return;
    const next = new Uint32Array(Math.max(this.length + n, this.data.length * 2));
    next.set(this.data.subarray(0, this.length));
    this.data = next;
  }
  /**
   * The filled part: a view when it fills at least half of the array (a copy would cost more than
   * the spare room, which was reserved and never written, so it holds no memory pages), else a copy.
   */
  finish(): Uint32Array {
    return this.length * 2 >= this.data.length ? this.data.subarray(0, this.length) : this.data.slice(0, this.length);
  }
}

/**
 * Appends the runs of the compressed string held as bytes (one per character) in src[start, end)
 * to the store; returns their count, or -1 (nothing appended) when the string is corrupt.
 */
export function decodeInto(store: RunStore, src: Uint8Array, start: number, end: number): number {
  store.reserve(end - start);
  const m = decodeCounts(src, start, end, store.data, store.length);
  if (m > 0) store.length += m;
  return m;
}

/**
 * decodeInto, then runsSummary of the new runs into out[o..o+5] while they are still in cache
 * (two simple loops beat one that interleaves them: each then has its own branches to predict).
 */
export function decodeSummaryInto(store: RunStore, src: Uint8Array, start: number, end: number, h: number, w: number, out: Float64Array, o = 0): number {
  const m = decodeInto(store, src, start, end);
  if (m >= 0) runsSummary(store.data, store.length - m, m, h, w, out, o);
  return m;
}

/** The same for a compressed string (throws like rleFrString when corrupt). */
export function decodeStringInto(store: RunStore, s: string): number {
  const m = decodeString(s);
  store.reserve(m);
  store.data.set(scratch.subarray(0, m), store.length);
  store.length += m;
  return m;
}

/** The summary (see SUMMARY_LENGTH) of the m runs cnts[at, at + m) into out[o, o + 7). */
export function runsSummary(cnts: Uint32Array, at: number, m: number, h: number, w: number, out: Float64Array, o = 0): void {
  if (plainSummary(cnts, at, m, h, w, out, o)) return;
  let total = 0;
  let area = 0;
  let plain = true;
  for (let j = 0; j < m; j++) {
    const n = cnts[at + j]!;
    total += n;
    if (j & 1) area += n;
    if (n === 0 && j > 0) plain = false;
  }
  const pairs = m - (m % 2);
  if (pairs === 0 || h === 0) out[o] = out[o + 1] = out[o + 2] = out[o + 3] = 0;
  else runsBboxExact(cnts, at, pairs, h, w, out, o);
  out[o + 4] = area;
  out[o + 5] = total;
  out[o + 6] = plain && total === h * w ? area : -1;
}

/**
 * What validation and loadRes need from a compressed mask without keeping its runs: its summary
 * (see SUMMARY_LENGTH) into out[o, o + 7). Throws like rleFrString on a corrupt string.
 */
export function rleStringSummary(s: string, h: number, w: number, out: Float64Array, o = 0): void {
  // decode first: it may replace `scratch` with a larger array
  const m = decodeString(s);
  runsSummary(scratch, 0, m, h, w, out, o);
}

function decodeString(s: string): number {
  const n = s.length;
  if (codes.length < n) codes = new Uint8Array(n * 2);
  const b = codes;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    b[i] = c > 255 ? 255 : c;
  }
  if (scratch.length < n) scratch = new Uint32Array(n * 2);
  const m = decodeCounts(b, 0, n, scratch, 0);
  if (m < 0) throw countsError(s.charCodeAt(decodeErrorAt), n);
  return m;
}

/** Where the last failed decodeCounts stopped: a character outside the alphabet, or the end of the input. */
let decodeErrorAt = 0;

function countsError(code: number | undefined, end: number, start = 0): RangeError {
  const p = decodeErrorAt;
  if (p >= end || code === undefined) return new RangeError(`RLE string ends inside a count at character ${end - start}`);
  return new RangeError(`RLE string has character '${String.fromCharCode(code)}' (code ${code}) outside 48..111 at ${p - start}`);
}

/**
 * Decodes the characters src[start, end) into out from index at (room for end - start runs
 * needed); returns the run count, or -1 with decodeErrorAt set when a character is outside the
 * alphabet or the input ends inside a count.
 * All arithmetic stays in int32 (the C code's uint, modulo 2^32); counts longer than 6
 * characters are finished by longCount, out of this loop.
 */
function decodeCounts(src: Uint8Array, start: number, end: number, cnts: Uint32Array, at: number): number {
  let m = 0;
  let p = start;
  // the two previous counts, as int32
  let prev2 = 0;
  let prev1 = 0;
  // from the fourth count on, each is a delta to the one two back: -1 from then on, 0 before (a
  // mask instead of a test of m per count: the benchmark's 50,000 strings decode in 31 ms, not 38)
  let delta = 0;
  while (p < end) {
    let c = (src[p]! - 48) | 0;
    let x = 0;
    if (c >>> 0 < 32) {
      // one character, no continuation (the usual case): 5 bits, sign in bit 4
      x = (c ^ 16) - 16;
      p++;
    } else {
      let k = 0;
      let more = 1;
      // up to 6 characters (30 bits) fit int32 arithmetic, which is all real masks need
      while (more && k < 6) {
        if (p >= end) return fail(p);
        c = (src[p]! - 48) | 0;
        if (c >>> 0 > 63) return fail(p);
        x |= (c & 0x1f) << (5 * k);
        more = c & 0x20;
        p++;
        k++;
        if (!more && c & 0x10) x |= -1 << (5 * k);
      }
      if (more) {
        p = longCount(src, p, end, x);
        if (p < 0) return -1;
        x = longValue;
      }
    }
    x = (x + (prev2 & delta)) | 0;
    cnts[at + m++] = x;
    prev2 = prev1;
    prev1 = x;
    delta = (2 - m) >> 31;
  }
  return m;
}

/** The count longCount finished, modulo 2^32 as int32. */
let longValue = 0;

/**
 * Finishes a count of more than 6 characters (x holds the first 30 bits) in float arithmetic,
 * exact below 2^53; leaves it in longValue and returns the position after it (-1 on error).
 */
function longCount(src: Uint8Array, p: number, end: number, x: number): number {
  let v = x;
  let mul = 2 ** 30;
  let more = 1;
  while (more) {
    if (p >= end) return fail(p);
    const c = src[p]! - 48;
    if (c < 0 || c > 63) return fail(p);
    v += (c & 0x1f) * mul;
    more = c & 0x20;
    p++;
    mul *= 32;
    if (!more && c & 0x10) v -= mul;
  }
  longValue = v | 0;
  return p;
}

function fail(p: number): number {
  decodeErrorAt = p;
  return -1;
}
