/**
 * A small seeded generator (mulberry32) so that sampling is reproducible from a seed and
 * independent of Math.random, whichever process or worker runs it.
 */
export class SeededRng {
  #state: number;

  constructor(seed = 0) {
    this.#state = seed >>> 0;
  }

  /**
   * Restarts the sequence from `seed`. Training reseeds its samplers from the step's position,
   * which makes a resumed run draw exactly what an uninterrupted one would.
   */
  reseed(seed: number): void {
    this.#state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** `k` distinct elements of `items`, in random order (partial Fisher-Yates on a copy). */
  choice<T>(items: readonly T[], k: number): T[] {
    const a = items.slice();
    const m = Math.min(k, a.length);
    for (let i = 0; i < m; i++) {
      const j = i + this.int(a.length - i);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a.slice(0, m);
  }
}
