/**
 * A streaming reader for JSON documents whose bulk sits in top-level arrays (COCO instances and
 * results files). It never holds the whole text as one string: a byte scanner finds element
 * boundaries, and batches of whole elements go to JSON.parse, so V8's fast parser does the number
 * work while memory stays proportional to one batch plus what the sink keeps.
 */
import { open } from '#platform';

export interface JsonSink {
  /** Whether the array value of this top-level key is delivered in batches ('' is a root array). */
  streamed(key: string): boolean;
  /** A batch of consecutive elements of a streamed array; firstIndex is the index of items[0]. */
  elements(key: string, items: unknown[], firstIndex: number): void;
  /** Any other top-level value, parsed whole. */
  value(key: string, value: unknown): void;
}

export interface JsonStreamOptions {
  /** File name used in messages. */
  label?: string;
  /**
   * Bytes read per system call and parsed per JSON.parse call (default 2 MiB: small enough that a
   * batch's objects die in V8's young generation, measured ~20% less CPU than 8 MiB).
   */
  chunkBytes?: number;
  /**
   * Accept the bare NaN / Infinity / -Infinity tokens that Python's json module writes, so a
   * validator can name the offending field instead of failing with a syntax error.
   */
  allowNonFinite?: boolean;
}

const enum Mode {
  Start,
  ObjKey,
  InKey,
  Colon,
  Value,
  Capture,
  ArrBetween,
  ArrElem,
  Done,
}

const SP = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACK = 0x5b;
const RBRACK = 0x5d;

function isWs(c: number): boolean {
  return c === SP || c === LF || c === CR || c === TAB;
}

export class JsonSyntaxError extends Error {
  override name = 'JsonSyntaxError';
}

// Plain bytes, not Buffers: this module must load in a browser (the mask API bundles with it).
const CUT_SPACED = new TextEncoder().encode('}, {');
const CUT_TIGHT = new TextEncoder().encode('},{');

const NONFINITE_TOKEN = /"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g;
const SENTINEL = '\u0000nonfinite:';

/** JSON.parse that also accepts NaN / Infinity tokens (outside strings) as numbers. */
export function parseLenient(text: string): unknown {
  const replaced = text.replace(NONFINITE_TOKEN, (tok) => (tok.charCodeAt(0) === QUOTE ? tok : `"\\u0000nonfinite:${tok}"`));
  return JSON.parse(replaced, (_k, v: unknown) => (typeof v === 'string' && v.startsWith(SENTINEL) ? Number(v.slice(SENTINEL.length)) : v));
}

class Scanner {
  mode = Mode.Start;
  pos = 0;
  // value scanning state (Capture and ArrElem)
  depth = 0;
  inStr = false;
  esc = false;
  bare = false;
  valStart = -1;
  // key state
  keyStart = -1;
  key = '';
  // array batching
  batchStart = -1;
  lastEnd = -1;
  batchFirst = 0;
  nextIndex = 0;
  expectElem = false;
  rootArray = false;
  tryCut = true;

  constructor(
    readonly sink: JsonSink,
    readonly label: string,
    readonly batchBytes: number,
    readonly lenient: boolean,
  ) {}

  fail(msg: string): never {
    throw new JsonSyntaxError(`${this.label}: invalid JSON: ${msg}`);
  }

  private parse(text: string): unknown {
    return this.lenient ? parseLenient(text) : JSON.parse(text);
  }

  private flush(buf: Buffer): void {
    if (this.batchStart < 0 || this.lastEnd <= this.batchStart) return;
    const text = buf.toString('utf8', this.batchStart, this.lastEnd);
    let items: unknown[];
    try {
      items = JSON.parse(`[${text}]`) as unknown[];
    } catch {
      items = this.parseOneByOne(text);
    }
    this.sink.elements(this.key, items, this.batchFirst);
    this.batchFirst += items.length;
    this.batchStart = -1;
    this.lastEnd = -1;
  }

  /** Slow path after a batch fails: find the bad element so the message can name it. */
  private parseOneByOne(text: string): unknown[] {
    const items: unknown[] = [];
    const b = Buffer.from(text, 'utf8');
    let i = 0;
    let idx = this.batchFirst;
    const where = (): string => (this.key === '' ? `[${idx}]` : `${this.key}[${idx}]`);
    while (i < b.length) {
      while (i < b.length && (isWs(b[i]!) || b[i] === COMMA)) i++;
      if (i >= b.length) break;
      const end = valueEnd(b, i);
      if (end < 0) this.fail(`${where()}: unterminated value`);
      const piece = b.toString('utf8', i, end);
      try {
        items.push(this.parse(piece));
      } catch (e) {
        this.fail(`${where()}: ${(e as Error).message}: ${piece.length > 120 ? `${piece.slice(0, 120)}...` : piece}`);
      }
      i = end;
      idx++;
    }
    return items;
  }

  /**
   * Fast path for arrays of objects: guess that the last "}, {" (or "},{") of the chunk ends an
   * element and parse everything before it in one JSON.parse. A wrong guess (the pattern inside a
   * string or a nested value) always leaves the text unbalanced, so JSON.parse rejects it and the
   * byte scanner takes over. Returns the position after the parsed elements, or `from` on failure.
   */
  private fastCut(buf: Buffer, from: number, end: number): number {
    const a = buf.lastIndexOf(CUT_SPACED, end - CUT_SPACED.length);
    const b = buf.lastIndexOf(CUT_TIGHT, end - CUT_TIGHT.length);
    const cut = Math.max(a, b) + 1;
    if (cut <= from) return from;
    let items: unknown[];
    try {
      items = JSON.parse(`[${buf.toString('utf8', from, cut)}]`) as unknown[];
    } catch {
      return from;
    }
    this.flush(buf);
    this.sink.elements(this.key, items, this.batchFirst);
    this.batchFirst += items.length;
    this.nextIndex += items.length;
    this.expectElem = false;
    return cut;
  }

  /** Scans buf[pos, end); returns the first byte that must be kept for the next call. */
  scan(buf: Buffer, end: number, eof: boolean): number {
    let i = this.pos;
    this.tryCut = true;
    while (i < end) {
      const mode = this.mode;
      if (mode === Mode.ArrElem || mode === Mode.Capture) {
        // hot loop: find the end of the current value
        let depth = this.depth;
        let inStr = this.inStr;
        let esc = this.esc;
        let done = -1;
        if (this.bare) {
          for (; i < end; i++) {
            const c = buf[i]!;
            if (c === COMMA || c === RBRACK || c === RBRACE || isWs(c)) {
              done = i;
              break;
            }
          }
        } else {
          for (; i < end; i++) {
            const c = buf[i]!;
            if (inStr) {
              if (esc) esc = false;
              else if (c === BSLASH) esc = true;
              else if (c === QUOTE) {
                inStr = false;
                if (depth === 0) {
                  done = ++i;
                  break;
                }
              }
            } else if (c === QUOTE) inStr = true;
            else if (c === LBRACE || c === LBRACK) depth++;
            else if (c === RBRACE || c === RBRACK) {
              if (--depth === 0) {
                done = ++i;
                break;
              }
            }
          }
        }
        this.depth = depth;
        this.inStr = inStr;
        this.esc = esc;
        if (done < 0) break;
        this.valueDone(buf, done);
        continue;
      }
      const c = buf[i]!;
      switch (mode) {
        case Mode.Start:
          if (isWs(c) || (i === 0 && c === 0xef && buf[1] === 0xbb && buf[2] === 0xbf)) {
            i += c === 0xef ? 3 : 1;
            break;
          }
          if (c === LBRACE) this.mode = Mode.ObjKey;
          else if (c === LBRACK) {
            this.rootArray = true;
            this.key = '';
            this.startArray();
          } else this.fail(`expected an object or an array at the top level, found '${String.fromCharCode(c)}'`);
          i++;
          break;
        case Mode.ObjKey:
          if (isWs(c) || c === COMMA) i++;
          else if (c === QUOTE) {
            this.keyStart = i;
            this.esc = false;
            this.mode = Mode.InKey;
            i++;
          } else if (c === RBRACE) {
            this.mode = Mode.Done;
            i++;
          } else this.fail(`expected a key at byte offset ${i}, found '${String.fromCharCode(c)}'`);
          break;
        case Mode.InKey:
          if (this.esc) this.esc = false;
          else if (c === BSLASH) this.esc = true;
          else if (c === QUOTE) {
            this.key = JSON.parse(buf.toString('utf8', this.keyStart, i + 1)) as string;
            this.keyStart = -1;
            this.mode = Mode.Colon;
          }
          i++;
          break;
        case Mode.Colon:
          if (isWs(c)) i++;
          else if (c === COLON) {
            this.mode = Mode.Value;
            i++;
          } else this.fail(`expected ':' after key "${this.key}"`);
          break;
        case Mode.Value:
          if (isWs(c)) i++;
          else if (c === LBRACK && this.sink.streamed(this.key)) {
            this.startArray();
            i++;
          } else {
            this.beginValue(c, i, Mode.Capture);
            i++;
          }
          break;
        case Mode.ArrBetween:
          if (isWs(c)) i++;
          else if (c === COMMA) {
            if (this.expectElem) this.fail(`${this.where()}: unexpected ','`);
            this.expectElem = true;
            i++;
          } else if (c === RBRACK) {
            if (this.expectElem && this.nextIndex > 0) this.fail(`${this.where()}: trailing ',' before ']'`);
            this.flush(buf);
            // an empty array still tells the sink that the key was present
            if (this.nextIndex === 0) this.sink.elements(this.key, [], 0);
            this.mode = this.rootArray ? Mode.Done : Mode.ObjKey;
            i++;
          } else {
            if (!this.expectElem) this.fail(`${this.where()}: expected ',' or ']'`);
            if (c === LBRACE && !eof && this.tryCut) {
              const next = this.fastCut(buf, i, end);
              if (next > i) {
                i = next;
                break;
              }
              // no whole element found by the guess: scan this chunk byte by byte
              this.tryCut = false;
            }
            if (this.batchStart < 0) this.batchStart = i;
            this.beginValue(c, i, Mode.ArrElem);
            i++;
          }
          break;
        case Mode.Done:
          if (!isWs(c)) this.fail(`unexpected data after the end of the document at byte offset ${i}`);
          i++;
          break;
      }
    }
    this.pos = i;
    if (eof) {
      if (this.mode === Mode.Capture && this.bare) this.valueDone(buf, end);
      if (this.mode !== Mode.Done) this.fail('unexpected end of file');
    }
    // whole elements are parsed now, so only the unfinished tail has to be carried over
    if (this.mode === Mode.ArrElem || this.mode === Mode.ArrBetween) {
      if (this.mode === Mode.ArrElem) {
        const keepStart = this.valStart;
        if (this.lastEnd > this.batchStart && this.batchStart >= 0) {
          this.flush(buf);
        }
        this.batchStart = keepStart;
        return keepStart;
      }
      this.flush(buf);
      return i;
    }
    if (this.mode === Mode.Capture) return this.valStart;
    if (this.mode === Mode.InKey) return this.keyStart;
    return i;
  }

  private where(): string {
    return this.key === '' ? `[${this.nextIndex}]` : `${this.key}[${this.nextIndex}]`;
  }

  private startArray(): void {
    this.mode = Mode.ArrBetween;
    this.batchStart = -1;
    this.lastEnd = -1;
    this.batchFirst = 0;
    this.nextIndex = 0;
    this.expectElem = true;
  }

  private beginValue(c: number, i: number, mode: Mode): void {
    this.mode = mode;
    this.valStart = i;
    this.esc = false;
    this.bare = false;
    this.inStr = false;
    this.depth = 0;
    if (c === LBRACE || c === LBRACK) this.depth = 1;
    else if (c === QUOTE) this.inStr = true;
    else this.bare = true;
  }

  private valueDone(buf: Buffer, endPos: number): void {
    if (this.mode === Mode.ArrElem) {
      this.lastEnd = endPos;
      this.nextIndex++;
      this.expectElem = false;
      this.mode = Mode.ArrBetween;
      if (this.lastEnd - this.batchStart >= this.batchBytes) this.flush(buf);
    } else {
      const text = buf.toString('utf8', this.valStart, endPos);
      let v: unknown;
      try {
        v = this.parse(text);
      } catch (e) {
        this.fail(`value of "${this.key}": ${(e as Error).message}`);
      }
      this.sink.value(this.key, v);
      this.mode = Mode.ObjKey;
    }
    this.valStart = -1;
  }

  rebase(shift: number): void {
    if (shift === 0) return;
    this.pos -= shift;
    if (this.valStart >= 0) this.valStart -= shift;
    if (this.keyStart >= 0) this.keyStart -= shift;
    if (this.batchStart >= 0) this.batchStart -= shift;
    if (this.lastEnd >= 0) this.lastEnd -= shift;
  }
}

/**
 * End (exclusive) of the JSON value starting at b[i], or -1 when it does not end before `end`. A
 * bare value (number, literal) ends at the first delimiter, or at `end`.
 */
export function valueEnd(b: Uint8Array, i: number, end = b.length): number {
  const c0 = b[i]!;
  if (c0 !== LBRACE && c0 !== LBRACK && c0 !== QUOTE) {
    let j = i;
    while (j < end && !(b[j] === COMMA || b[j] === RBRACK || b[j] === RBRACE || isWs(b[j]!))) j++;
    return j;
  }
  let depth = c0 === QUOTE ? 0 : 1;
  let inStr = c0 === QUOTE;
  let esc = false;
  for (let j = i + 1; j < end; j++) {
    const c = b[j]!;
    if (inStr) {
      if (esc) esc = false;
      else if (c === BSLASH) esc = true;
      else if (c === QUOTE) {
        inStr = false;
        if (depth === 0) return j + 1;
      }
    } else if (c === QUOTE) inStr = true;
    else if (c === LBRACE || c === LBRACK) depth++;
    else if (c === RBRACE || c === RBRACK) {
      if (--depth === 0) return j + 1;
    }
  }
  return -1;
}

/** Streams a JSON file through the sink, reusing one read buffer (fresh pages are slow here). */
export async function readJsonFile(path: string, sink: JsonSink, opts: JsonStreamOptions = {}): Promise<number> {
  const chunk = opts.chunkBytes ?? 2 << 20;
  const sc = new Scanner(sink, opts.label ?? path, chunk, opts.allowNonFinite ?? false);
  const fh = await open(path, 'r');
  let total = 0;
  try {
    let buf = Buffer.allocUnsafe(chunk);
    let len = 0;
    // a file that fits one read may not need the scanner at all
    let first = (await fh.read(buf, 0, chunk, null)).bytesRead;
    if (first < chunk) {
      const more = (await fh.read(buf, first, chunk - first, null)).bytesRead;
      if (more === 0) {
        if (parseWhole(buf, first, sink, opts.allowNonFinite ?? false)) return first;
        sc.scan(buf, first, true);
        return first;
      }
      first += more;
    }
    total = first;
    len = first;
    {
      // the first read goes through the scanner like every other
      const keep = sc.scan(buf, len, false);
      if (keep > 0) buf.copy(buf, 0, keep, len);
      len -= keep;
      sc.rebase(keep);
    }
    for (;;) {
      if (buf.length - len < chunk / 2) {
        // one value longer than the buffer: grow instead of failing
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, len);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, len, buf.length - len, null);
      total += bytesRead;
      const end = len + bytesRead;
      const eof = bytesRead === 0;
      const keep = sc.scan(buf, end, eof);
      if (eof) break;
      if (keep > 0) buf.copy(buf, 0, keep, end);
      len = end - keep;
      sc.rebase(keep);
    }
  } finally {
    await fh.close();
  }
  return total;
}

/** The same over text or bytes already in memory. */
export function readJsonBuffer(data: Buffer | string, sink: JsonSink, opts: JsonStreamOptions = {}): void {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const batch = opts.chunkBytes ?? 2 << 20;
  if (buf.length <= batch && parseWhole(buf, buf.length, sink, opts.allowNonFinite ?? false)) return;
  const sc = new Scanner(sink, opts.label ?? '<buffer>', batch, opts.allowNonFinite ?? false);
  sc.scan(buf, buf.length, true);
}

/**
 * A document of at most one batch in one JSON.parse, delivered to the sink as the scanner would
 * deliver it (each streamed array whole). Returns false, having delivered nothing, when the
 * scanner must read it instead: a syntax error (its message names the place), a top-level key
 * that occurs more than once in the text or is an array index (JSON.parse would merge or reorder
 * them), anything but an object or an array at the top.
 */
function parseWhole(buf: Buffer, len: number, sink: JsonSink, lenient: boolean): boolean {
  let v: unknown;
  try {
    const text = buf.toString('utf8', 0, len);
    v = lenient ? parseLenient(text) : JSON.parse(text);
  } catch {
    return false;
  }
  if (Array.isArray(v)) {
    sink.elements('', v, 0);
    return true;
  }
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  for (const k of keys) {
    if (/^(0|[1-9][0-9]*)$/.test(k)) return false;
    const pattern = Buffer.from(JSON.stringify(k), 'utf8');
    const at = buf.indexOf(pattern);
    if (at < 0 || at + pattern.length > len) return false;
    const again = buf.indexOf(pattern, at + 1);
    if (again >= 0 && again + pattern.length <= len) return false;
  }
  for (const k of keys) {
    const x = o[k];
    if (Array.isArray(x) && sink.streamed(k)) sink.elements(k, x, 0);
    else sink.value(k, x);
  }
  return true;
}
