/**
 * The library's random stream. Dropout, stochastic depth and samplers draw their seeds from here,
 * so a run is reproducible from one seed and a checkpoint can save and restore the stream, which
 * makes a resumed run continue exactly as an uninterrupted one would.
 */
let state = 0x9e3779b9;

/** Restarts the stream from `seed`. */
export function seedEverything(seed: number): void {
  state = seed >>> 0;
}

/** A uint32 from the stream (mulberry32). */
export function nextUint32(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

/** A seed for tfjs random ops (`tf.randomUniform(shape, 0, 1, 'float32', nextSeed())`). */
export function nextSeed(): number {
  // tfjs takes a seed of 0 as "no seed" and would draw from Math.random.
  return nextUint32() || 1;
}

export function getRandomState(): number {
  return state;
}

export function setRandomState(value: number): void {
  state = value >>> 0;
}
