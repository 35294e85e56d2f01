/**
 * Seeded pseudo-random numbers: the one generator of the library (mulberry32; small, fast, not
 * cryptographic) and the library's global stream.
 *
 * Dropout, stochastic depth and samplers draw their seeds from the global stream, so a run is
 * reproducible from one seed and a checkpoint can save and restore the stream, which makes a
 * resumed run continue exactly as an uninterrupted one would. Data pipelines use their own `Rng`s
 * derived from (seed, epoch, sample index) with `deriveSeed`, so results do not depend on how many
 * workers run or in which order samples finish.
 */
export class Rng {
  #state: number;

  constructor(seed = 0) {
    this.#state = seed >>> 0;
  }

  /** The generator's state: `new Rng(r.state)` continues exactly where `r` is. */
  get state(): number {
    return this.#state;
  }

  /** Restarts the sequence from `seed` (samplers are reseeded from a step's position). */
  reseed(seed: number): void {
    this.#state = seed >>> 0;
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer uniform in [0, n): an index into n items. */
  intBelow(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Integer uniform in [lo, hi], both ends included. */
  intInclusive(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** true with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick: empty array');
    return items[this.intBelow(items.length)]!;
  }

  /** Fisher-Yates shuffle in place; returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.intBelow(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
    return items;
  }

  /** `k` distinct elements of `items`, in random order (partial Fisher-Yates on a copy). */
  choice<T>(items: readonly T[], k: number): T[] {
    const a = items.slice();
    const m = Math.min(k, a.length);
    for (let i = 0; i < m; i++) {
      const j = i + this.intBelow(a.length - i);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a.slice(0, m);
  }
}

/** Mixes integers into one 32-bit seed (splitmix-style); stable across platforms. */
export function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    // Split doubles into two 32-bit words so large seeds still differ.
    const lo = p >>> 0;
    const hi = Math.floor(p / 4294967296) >>> 0;
    for (const w of [lo, hi]) {
      h = Math.imul(h ^ w, 0x85ebca6b) >>> 0;
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35) >>> 0;
      h ^= h >>> 16;
    }
  }
  return h >>> 0;
}

/** The library's global stream. */
const stream = new Rng(0x9e3779b9);

/** Restarts the global stream from `seed`. */
export function seedEverything(seed: number): void {
  stream.reseed(seed);
}

/** A uint32 from the global stream. */
export function nextUint32(): number {
  return stream.nextUint32();
}

/** A seed for tfjs random ops (`tf.randomUniform(shape, 0, 1, 'float32', nextSeed())`). */
export function nextSeed(): number {
  // tfjs takes a seed of 0 as "no seed" and would draw from Math.random.
  return stream.nextUint32() || 1;
}

export function getRandomState(): number {
  return stream.state;
}

export function setRandomState(value: number): void {
  stream.reseed(value);
}
