/** The few numpy routines whose exact floating-point behaviour the COCO numbers depend on. */

/** np.linspace(start, stop, num): i * step + start, with the last value set to stop. */
export function linspace(start: number, stop: number, num: number): number[] {
  const div = num - 1;
  const step = (stop - start) / div;
  const out: number[] = [];
  for (let i = 0; i < num; i++) out.push(i * step + start);
  if (num > 1) out[num - 1] = stop;
  return out;
}

/** numpy's pairwise summation (8-way unrolled blocks of up to 128, split in halves above). */
function pairwise(a: ArrayLike<number>, lo: number, n: number): number {
  if (n < 8) {
    let res = -0;
    for (let i = 0; i < n; i++) res += a[lo + i]!;
    return res;
  }
  if (n <= 128) {
    let r0 = a[lo]!;
    let r1 = a[lo + 1]!;
    let r2 = a[lo + 2]!;
    let r3 = a[lo + 3]!;
    let r4 = a[lo + 4]!;
    let r5 = a[lo + 5]!;
    let r6 = a[lo + 6]!;
    let r7 = a[lo + 7]!;
    let i = 8;
    const end = n - (n % 8);
    for (; i < end; i += 8) {
      r0 += a[lo + i]!;
      r1 += a[lo + i + 1]!;
      r2 += a[lo + i + 2]!;
      r3 += a[lo + i + 3]!;
      r4 += a[lo + i + 4]!;
      r5 += a[lo + i + 5]!;
      r6 += a[lo + i + 6]!;
      r7 += a[lo + i + 7]!;
    }
    let res = r0 + r1 + (r2 + r3) + (r4 + r5 + (r6 + r7));
    for (; i < n; i++) res += a[lo + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwise(a, lo, n2) + pairwise(a, lo + n2, n - n2);
}

/** The ufunc buffer size: numpy's reduction hands its inner loop at most this many elements at a time. */
const NUMPY_BUFSIZE = 8192;

/**
 * np.sum of a 1-D float64 array: the reduction starts from 0.0 and adds, block after block of
 * 8192 elements, each block's pairwise sum (so arrays longer than 8192 are not summed pairwise as a
 * whole; summarize's means over K*T*R entries are, with 80 categories).
 */
export function npSum(a: ArrayLike<number>): number {
  let res = 0;
  for (let lo = 0; lo < a.length; lo += NUMPY_BUFSIZE) res += pairwise(a, lo, Math.min(NUMPY_BUFSIZE, a.length - lo));
  return res;
}

/** np.mean of a 1-D float64 array. */
export function npMean(a: ArrayLike<number>): number {
  return npSum(a) / a.length;
}

/** Mean of the entries > -1 (pycocotools' summarize), -1 when there are none. */
export function meanValid(values: ArrayLike<number>): number {
  const kept: number[] = [];
  for (let i = 0; i < values.length; i++) if (values[i]! > -1) kept.push(values[i]!);
  return kept.length === 0 ? -1 : npMean(kept);
}

/** np.searchsorted(a, v, side='left') on an ascending array a[0, n). */
export function searchLeft(a: ArrayLike<number>, n: number, v: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

let sortU = new Float64Array(256);
let sortRank = new Int32Array(256);
let sortStart = new Int32Array(257);

/**
 * np.argsort(-key[0, n), kind='mergesort'): positions by key descending, equal keys (0 and -0
 * included) in position order. The distinct keys are sorted natively and the positions placed by
 * a counting sort on their rank, which avoids a comparator call per comparison.
 */
export function argsortDescStable(key: Float64Array, n: number, out: Int32Array = new Int32Array(n)): Int32Array {
  // scratch reused across calls (evaluate sorts each image-category pair)
  if (sortU.length < n) {
    sortU = new Float64Array(n * 2);
    sortRank = new Int32Array(n * 2);
    sortStart = new Int32Array(n * 2 + 1);
  }
  const u = sortU;
  u.set(key.subarray(0, n));
  u.subarray(0, n).sort();
  let U = 0;
  for (let i = 0; i < n; i++) if (U === 0 || u[i] !== u[U - 1]) u[U++] = u[i]!;
  const rank = sortRank;
  const start = sortStart;
  start.fill(0, 0, U + 1);
  for (let i = 0; i < n; i++) {
    const r = U - 1 - searchLeft(u, U, key[i]!);
    rank[i] = r;
    start[r + 1]!++;
  }
  for (let r = 0; r < U; r++) start[r + 1]! += start[r]!;
  for (let i = 0; i < n; i++) out[start[rank[i]!]!++] = i;
  return out;
}
