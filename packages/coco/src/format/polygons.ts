/**
 * Compact storage for polygon coordinates (the bulk of an instances file). COCO writes at most two
 * decimals, so most coordinates are stored as int32 hundredths, which decode to exactly the double
 * JSON.parse produced (an exact integer divided by 100 is correctly rounded). A polygon with any
 * other value is kept as float64. Fixed-size chunks avoid re-copying as the store grows.
 */
const CHUNK = 1 << 20;
const I32_LIMIT = 2 ** 31;

export class PolygonStore {
  private intChunks: Int32Array[] = [];
  private floatChunks: Float64Array[] = [];
  private intUsed = CHUNK;
  private floatUsed = CHUNK;
  /** Per polygon: chunk index (negative = float chunk -1-index), offset in chunk, number of values. */
  private pChunk: Int32Array = new Int32Array(1024);
  private pOffset: Int32Array = new Int32Array(1024);
  private pLength: Int32Array = new Int32Array(1024);
  count = 0;

  /** Appends one polygon and returns its index. */
  add(values: readonly number[]): number {
    const n = values.length;
    if (n <= CHUNK) {
      if (this.intUsed + n > CHUNK) {
        this.intChunks.push(new Int32Array(CHUNK));
        this.intUsed = 0;
      }
      const chunk = this.intChunks.length - 1;
      const dst = this.intChunks[chunk]!;
      const offset = this.intUsed;
      // write optimistically; a value that does not round-trip sends the polygon to float64
      let exact = true;
      for (let i = 0; i < n; i++) {
        const v = values[i]!;
        const q = Math.round(v * 100);
        if (q / 100 !== v || q >= I32_LIMIT || q < -I32_LIMIT) {
          exact = false;
          break;
        }
        dst[offset + i] = q;
      }
      if (exact) {
        this.intUsed += n;
        return this.record(chunk, offset, n);
      }
    }
    if (n > CHUNK) {
      this.floatChunks.push(Float64Array.from(values));
      this.floatUsed = CHUNK;
      return this.record(-this.floatChunks.length, 0, n);
    }
    if (this.floatUsed + n > CHUNK) {
      this.floatChunks.push(new Float64Array(CHUNK));
      this.floatUsed = 0;
    }
    const idx = this.floatChunks.length - 1;
    this.floatChunks[idx]!.set(values, this.floatUsed);
    const offset = this.floatUsed;
    this.floatUsed += n;
    return this.record(-1 - idx, offset, n);
  }

  private record(chunk: number, offset: number, n: number): number {
    if (this.count === this.pChunk.length) {
      const grow = (a: Int32Array): Int32Array => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.pChunk = grow(this.pChunk);
      this.pOffset = grow(this.pOffset);
      this.pLength = grow(this.pLength);
    }
    this.pChunk[this.count] = chunk;
    this.pOffset[this.count] = offset;
    this.pLength[this.count] = n;
    return this.count++;
  }

  length(p: number): number {
    return this.pLength[p]!;
  }

  /** The coordinates of polygon p as doubles. */
  coords(p: number, out = new Float64Array(this.pLength[p]!)): Float64Array {
    const c = this.pChunk[p]!;
    const off = this.pOffset[p]!;
    const n = this.pLength[p]!;
    if (c >= 0) {
      const src = this.intChunks[c]!;
      for (let i = 0; i < n; i++) out[i] = src[off + i]! / 100;
    } else {
      out.set(this.floatChunks[-1 - c]!.subarray(off, off + n));
    }
    return out;
  }

  /** Bytes held by coordinate storage (for memory reports). */
  get bytes(): number {
    return this.intChunks.length * CHUNK * 4 + this.floatChunks.reduce((s, c) => s + c.byteLength, 0) + this.pChunk.byteLength * 3;
  }
}
