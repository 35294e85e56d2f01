/**
 * A reader for results files that takes the usual element, an object with numbers, a box and a
 * compressed mask, straight from the file's bytes: no JSON.parse, no objects or strings per
 * result, and the mask decoded once, from the bytes, into the builder's run store. Anything else (a
 * polygon or uncompressed mask, an escape it does not know, a number that is not finite, a result
 * that needs a note) goes to JSON.parse and the builder's add() element by element, and anything
 * wrong with the document itself (a syntax error, a truncated file) makes it give up, so that the
 * streaming reader reads the file again and reports the problem as it always does.
 */
import { indexOfByte, open } from '#platform';
import { parseLenient, valueEnd } from './json-stream.js';
import { type RunStore, SUMMARY_LENGTH, decodeInto, decodeSummaryInto } from '../mask/rle.js';

/** Which fields an element had. */
export const enum Has {
  ImageId = 1,
  CategoryId = 2,
  Score = 4,
  Bbox = 8,
  Counts = 16,
}

/** One element as the reader found it. */
export interface ParsedResult {
  has: number;
  imageId: number;
  categoryId: number;
  score: number;
  /** [x, y, w, h]: four finite numbers when has & Has.Bbox. */
  bbox: Float64Array;
  /** segmentation.size, when has & Has.Counts (the runs are in the builder's store). */
  h: number;
  w: number;
  /** Whether `summary` holds the mask's runsSummary (size came before counts). */
  summarized: boolean;
  summary: Float64Array;
}

/** What the reader needs from the results builder. */
export interface ParsedResultSink {
  readonly runs: RunStore;
  /** Adds the element (its mask's runs in `runs` from runsAt on) or returns false. */
  addParsed(r: ParsedResult, runsAt: number): boolean;
  /** The generic path for one element. */
  elements(items: readonly unknown[], first: number): void;
}

// parseElement's results below 0
const FALLBACK = -1;
const MORE = -2;

const QUOTE = 0x22;
const BSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACK = 0x5b;
const RBRACK = 0x5d;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;

const enum Key {
  Other,
  ImageId,
  CategoryId,
  Score,
  Bbox,
  Segmentation,
  Size,
  Counts,
}

const KEYS: [string, Key][] = [
  ['image_id', Key.ImageId],
  ['category_id', Key.CategoryId],
  ['score', Key.Score],
  ['bbox', Key.Bbox],
  ['segmentation', Key.Segmentation],
  ['size', Key.Size],
  ['counts', Key.Counts],
];
/** The known keys by length (no two of one length start with the same byte). */
const KEYS_BY_LENGTH: (readonly [number[], Key])[][] = [];
for (const [k, v] of KEYS) (KEYS_BY_LENGTH[k.length] ??= []).push([Array.from(k, (c) => c.charCodeAt(0)), v]);

/** Which known key b[s, s + n) spells (Key.Other for any other). */
function keyAt(b: Uint8Array, s: number, n: number): Key {
  const candidates = KEYS_BY_LENGTH[n];
  if (candidates === undefined) return Key.Other;
  for (let i = 0; i < candidates.length; i++) {
    const bytes = candidates[i]![0];
    const k = candidates[i]![1];
    if (bytes[0] !== b[s]) continue;
    let j = 1;
    while (j < n && bytes[j] === b[s + j]) j++;
    return j === n ? k : Key.Other;
  }
  return Key.Other;
}

const LITERALS = ['true', 'false', 'null'].map((w) => Array.from(w, (c) => c.charCodeAt(0)));

/** 10^0 .. 10^22, all exact doubles. */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * Parses JSON documents of results element by element. Positions inside one buffer; `num` and
 * `key` carry a token's value out of the scanning functions.
 */
class Reader {
  num = 0;
  key = Key.Other;
  index = 0;
  readonly rec: ParsedResult = { has: 0, imageId: 0, categoryId: 0, score: 0, bbox: new Float64Array(4), h: 0, w: 0, summarized: false, summary: new Float64Array(SUMMARY_LENGTH) };
  /** A counts string with its \\ escapes undone. */
  unescaped = new Uint8Array(256);
  /** 0: before '[', 1: expecting an element, 2: after an element, 3: after ']'. */
  state = 0;
  /** nextBackslash's last answer and the array it searched (each read gets a new view). */
  private bsIn: Uint8Array | null = null;
  private bsAt = Infinity;

  constructor(
    readonly sink: ParsedResultSink,
    readonly label: string,
  ) {}

  /**
   * Reads buf[i, end); returns the first position it could not finish (to be kept for the next
   * call), or -1 when it gives up. With eof, anything unfinished is a give-up.
   */
  feed(buf: Uint8Array, i: number, end: number, eof: boolean): number {
    for (;;) {
      while (i < end && isWs(buf[i]!)) i++;
      if (i >= end) return eof && this.state !== 3 ? -1 : i;
      const c = buf[i]!;
      switch (this.state) {
        case 0:
          if (c !== LBRACK) return -1;
          i++;
          this.state = 1;
          // an empty array goes to the streaming reader, which warns about it
          while (i < end && isWs(buf[i]!)) i++;
          if (i < end && buf[i] === RBRACK) return -1;
          break;
        case 1: {
          const r = this.element(buf, i, end);
          if (r === MORE) return eof ? -1 : i;
          if (r < 0) return -1;
          i = r;
          this.index++;
          this.state = 2;
          break;
        }
        case 2:
          if (c === COMMA) this.state = 1;
          else if (c === RBRACK) this.state = 3;
          else return -1;
          i++;
          break;
        default:
          return -1;
      }
    }
  }

  /** One element at buf[i]: its end, MORE, or FALLBACK when the document is broken. */
  private element(buf: Uint8Array, i: number, end: number): number {
    const runs = this.sink.runs;
    const mark = runs.length;
    const r = buf[i] === LBRACE ? this.object(buf, i + 1, end) : FALLBACK;
    if (r === MORE) {
      runs.length = mark;
      return MORE;
    }
    if (r >= 0 && this.sink.addParsed(this.rec, mark)) return r;
    runs.length = mark;
    // the generic path: JSON.parse of this element alone
    const e = valueEnd(buf, i, end);
    if (e < 0 || e >= end) return MORE;
    let v: unknown;
    try {
      v = parseLenient(utf8.decode(buf.subarray(i, e)));
    } catch {
      return FALLBACK;
    }
    this.sink.elements([v], this.index);
    return e;
  }

  /** The members of a result object after its '{'. */
  private object(b: Uint8Array, i: number, end: number): number {
    const rec = this.rec;
    rec.has = 0;
    for (;;) {
      i = this.memberKey(b, i, end);
      if (i < 0) return i;
      const key = this.key;
      switch (key) {
        case Key.ImageId:
        case Key.CategoryId:
        case Key.Score: {
          i = this.number(b, i, end);
          if (i < 0) return i;
          const bit = key === Key.ImageId ? Has.ImageId : key === Key.CategoryId ? Has.CategoryId : Has.Score;
          if (rec.has & bit) return FALLBACK;
          rec.has |= bit;
          if (key === Key.ImageId) rec.imageId = this.num;
          else if (key === Key.CategoryId) rec.categoryId = this.num;
          else rec.score = this.num;
          break;
        }
        case Key.Bbox:
          if (rec.has & Has.Bbox) return FALLBACK;
          i = this.box(b, i, end);
          if (i < 0) return i;
          rec.has |= Has.Bbox;
          break;
        case Key.Segmentation:
          if (rec.has & Has.Counts) return FALLBACK;
          i = this.rle(b, i, end);
          if (i < 0) return i;
          rec.has |= Has.Counts;
          break;
        default:
          i = this.otherValue(b, i, end);
          if (i < 0) return i;
      }
      i = skipWs(b, i, end);
      if (i >= end) return MORE;
      if (b[i] === RBRACE) return i + 1;
      if (b[i] !== COMMA) return FALLBACK;
      i++;
    }
  }

  /** `"key" :` and the whitespace after it; sets this.key. */
  private memberKey(b: Uint8Array, i: number, end: number): number {
    i = skipWs(b, i, end);
    if (i >= end) return MORE;
    if (b[i] !== QUOTE) return FALLBACK;
    const s = i + 1;
    let e = s;
    while (e < end && b[e] !== QUOTE) {
      if (b[e] === BSLASH) return FALLBACK;
      e++;
    }
    if (e >= end) return MORE;
    this.key = keyAt(b, s, e - s);
    i = skipWs(b, e + 1, end);
    if (i >= end) return MORE;
    if (b[i] !== COLON) return FALLBACK;
    i = skipWs(b, i + 1, end);
    return i >= end ? MORE : i;
  }

  /**
   * Past the value of a key the builder does not read: a number, a literal, or a string without
   * escapes (all checked as strictly as JSON.parse would); anything else is FALLBACK.
   */
  private otherValue(b: Uint8Array, i: number, end: number): number {
    const c = b[i]!;
    if (c === QUOTE) {
      for (i++; i < end; i++) {
        const d = b[i]!;
        if (d === QUOTE) return i + 1;
        if (d === BSLASH || d < 0x20) return FALLBACK;
      }
      return MORE;
    }
    if (c === MINUS || c - ZERO >>> 0 < 10) return this.number(b, i, end);
    for (const lit of LITERALS) {
      if (end - i < lit.length + 1) return MORE;
      let j = 0;
      while (j < lit.length && b[i + j] === lit[j]) j++;
      if (j === lit.length) {
        const d = b[i + j]!;
        return isWs(d) || d === COMMA || d === RBRACE || d === RBRACK ? i + j : FALLBACK;
      }
    }
    return FALLBACK;
  }

  /** `[x, y, w, h]` into rec.bbox. */
  private box(b: Uint8Array, i: number, end: number): number {
    if (b[i] !== LBRACK) return FALLBACK;
    i++;
    for (let k = 0; k < 4; k++) {
      i = skipWs(b, i, end);
      if (i >= end) return MORE;
      i = this.number(b, i, end);
      if (i < 0) return i;
      this.rec.bbox[k] = this.num;
      i = skipWs(b, i, end);
      if (i >= end) return MORE;
      if (b[i] !== (k === 3 ? RBRACK : COMMA)) return FALLBACK;
      i++;
    }
    return i;
  }

  /** `{"size": [h, w], "counts": "..."}` (either order): the runs go to the store. */
  private rle(b: Uint8Array, i: number, end: number): number {
    if (b[i] !== LBRACE) return FALLBACK;
    i++;
    const rec = this.rec;
    let seen = 0;
    for (;;) {
      i = this.memberKey(b, i, end);
      if (i < 0) return i;
      if (this.key === Key.Size && !(seen & 1)) {
        if (b[i] !== LBRACK) return FALLBACK;
        i = skipWs(b, i + 1, end);
        if (i >= end) return MORE;
        i = this.number(b, i, end);
        if (i < 0) return i;
        rec.h = this.num;
        i = skipWs(b, i, end);
        if (i >= end) return MORE;
        if (b[i] !== COMMA) return FALLBACK;
        i = skipWs(b, i + 1, end);
        if (i >= end) return MORE;
        i = this.number(b, i, end);
        if (i < 0) return i;
        rec.w = this.num;
        i = skipWs(b, i, end);
        if (i >= end) return MORE;
        if (b[i] !== RBRACK) return FALLBACK;
        i++;
        seen |= 1;
      } else if (this.key === Key.Counts && !(seen & 2)) {
        i = this.countsString(b, i, end, (seen & 1) !== 0);
        if (i < 0) return i;
        seen |= 2;
      } else return FALLBACK;
      i = skipWs(b, i, end);
      if (i >= end) return MORE;
      if (b[i] === RBRACE) return seen === 3 ? i + 1 : FALLBACK;
      if (b[i] !== COMMA) return FALLBACK;
      i++;
    }
  }

  /**
   * The counts string, decoded into the run store. Its alphabet (48..111) has '\' but not '"', so
   * the only escape it can need is \\; anything else, or a character outside the alphabet, is
   * FALLBACK.
   */
  private countsString(b: Uint8Array, i: number, end: number, sized: boolean): number {
    if (b[i] !== QUOTE) return FALLBACK;
    const s = i + 1;
    // the closing quote, unless a backslash comes first
    let e = b.indexOf(QUOTE, s);
    if (e < 0 || e >= end) return MORE;
    const bs = this.nextBackslash(b, s);
    const escapes = bs < e;
    if (escapes) {
      for (e = bs; ; e++) {
        if (e >= end) return MORE;
        const c = b[e]!;
        if (c === QUOTE) break;
        if (c === BSLASH) {
          if (e + 1 >= end) return MORE;
          if (b[e + 1] !== BSLASH) return FALLBACK;
          e++;
        }
      }
    }
    let src = b;
    let from = s;
    let to = e;
    if (escapes) {
      if (this.unescaped.length < e - s) this.unescaped = new Uint8Array((e - s) * 2);
      let n = 0;
      for (let j = s; j < e; j++) {
        this.unescaped[n++] = b[j]!;
        if (b[j] === BSLASH) j++;
      }
      src = this.unescaped;
      from = 0;
      to = n;
    }
    const rec = this.rec;
    // with the size known, the runs are measured as they are decoded
    rec.summarized = sized;
    const m = sized ? decodeSummaryInto(this.sink.runs, src, from, to, rec.h, rec.w, rec.summary) : decodeInto(this.sink.runs, src, from, to);
    return m < 0 ? FALLBACK : e + 1;
  }

  /**
   * Where the first backslash at or after s is in b (Infinity: none). Found with the platform's
   * indexOfByte (memchr in Node.js) and kept until a string starts past it: escapes are rare, and a loop over
   * every character of every counts string looking for one cost as much as a third of decoding them.
   */
  private nextBackslash(b: Uint8Array, s: number): number {
    if (b !== this.bsIn || this.bsAt < s) {
      const at = indexOfByte(b, BSLASH, s);
      this.bsIn = b;
      this.bsAt = at < 0 ? Infinity : at;
    }
    return this.bsAt;
  }

  /**
   * A JSON number into this.num, exactly as JSON.parse reads it: integers and decimals of up to 15
   * digits with a power of ten up to 22 are one correctly rounded operation on exact doubles
   * (Clinger's fast path); other forms go through Number(). FALLBACK unless the result is finite
   * and the token is followed by a delimiter.
   */
  private number(b: Uint8Array, i: number, end: number): number {
    const s = i;
    let neg = false;
    if (b[i] === MINUS) {
      neg = true;
      i++;
    }
    let mant = 0;
    let digits = 0;
    let scale = 0;
    if (i >= end) return MORE;
    let c = b[i]!;
    if (c === ZERO) {
      i++;
      if (i < end && b[i]! - ZERO >>> 0 < 10) return FALLBACK; // leading zero: JSON.parse refuses it
    } else if (c - ZERO >>> 0 < 10) {
      for (; i < end && (c = b[i]! - ZERO) >>> 0 < 10; i++) {
        mant = mant * 10 + c;
        digits++;
      }
    } else return FALLBACK;
    let simple = true;
    if (i < end && b[i] === DOT) {
      i++;
      const f = i;
      for (; i < end && (c = b[i]! - ZERO) >>> 0 < 10; i++) {
        if (digits > 0 || c !== 0) digits++;
        mant = mant * 10 + c;
        scale++;
      }
      if (i === f) return i >= end ? MORE : FALLBACK;
    }
    if (i < end && (b[i] === 0x65 || b[i] === 0x45)) {
      simple = false;
      i++;
      if (i < end && (b[i] === 0x2b || b[i] === MINUS)) i++;
      const f = i;
      while (i < end && b[i]! - ZERO >>> 0 < 10) i++;
      if (i === f) return i >= end ? MORE : FALLBACK;
    }
    if (i >= end) return MORE;
    c = b[i]!;
    if (!(isWs(c) || c === COMMA || c === RBRACE || c === RBRACK)) return FALLBACK;
    let v: number;
    if (simple && digits <= 15 && scale <= 22) v = scale === 0 ? mant : mant / POW10[scale]!;
    else {
      let t = '';
      for (let j = s; j < i; j++) t += String.fromCharCode(b[j]!);
      v = Number(t);
    }
    if (!Number.isFinite(v)) return FALLBACK;
    this.num = neg ? -v : v;
    return i;
  }
}

function skipWs(b: Uint8Array, i: number, end: number): number {
  while (i < end && isWs(b[i]!)) i++;
  return i;
}


const utf8 = new TextDecoder();

/**
 * Reads a results file with the fast reader into sink; false when it gave up (then nothing it
 * added may be used: the caller starts again with a fresh builder and the streaming reader).
 */
export async function readResultsFile(path: string, sink: ParsedResultSink, label: string, chunkBytes = 2 << 20): Promise<boolean> {
  const rd = new Reader(sink, label);
  const fh = await open(path, 'r');
  try {
    // a mask has at most one run per byte of the file: one allocation (up to 2^26 runs, then
    // doubling), filled as far as needed; pages never written cost no memory
    sink.runs.reserve(Math.min((await fh.stat()).size, 1 << 26));
    let buf = Buffer.allocUnsafe(chunkBytes);
    let len = 0;
    for (;;) {
      if (buf.length - len < chunkBytes / 2) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, len);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, len, buf.length - len, null);
      const end = len + bytesRead;
      const eof = bytesRead === 0;
      // a plain Uint8Array view: the decoder then sees one kind of array (Buffer is another)
      const keep = rd.feed(new Uint8Array(buf.buffer, buf.byteOffset, end), 0, end, eof);
      if (keep < 0) return false;
      if (eof) return true;
      if (keep > 0) buf.copy(buf, 0, keep, end);
      len = end - keep;
    }
  } finally {
    await fh.close();
  }
}

/** The same over bytes in memory. */
export function readResultsBuffer(data: Uint8Array, sink: ParsedResultSink, label: string): boolean {
  sink.runs.reserve(Math.min(data.length, 1 << 26));
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.length);
  return new Reader(sink, label).feed(bytes, 0, bytes.length, true) >= 0;
}
