import type { AssignResult } from './assigner.js';
import { Rng } from '@partialnet/core';

export interface RandomSamplerOptions {
  /** Samples per image. */
  num: number;
  posFraction: number;
  /** Most negatives per positive; -1 for no bound. */
  negPosUb?: number;
  /** Seed of the sampler's own generator (deterministic sequence of draws). */
  seed?: number;
}

export interface SamplingResult {
  /** Candidate indices, positives first in the order drawn. */
  posInds: Int32Array;
  negInds: Int32Array;
}

/**
 * mmdet's RandomSampler: up to num * posFraction positives drawn at random among the assigned
 * candidates, the rest of `num` from the negatives. Draws come from a seeded generator, so a
 * sampler built with the same seed repeats its choices.
 */
export class RandomSampler {
  readonly num: number;
  readonly posFraction: number;
  readonly negPosUb: number;
  readonly rng: Rng;

  constructor(options: RandomSamplerOptions) {
    this.num = options.num;
    this.posFraction = options.posFraction;
    this.negPosUb = options.negPosUb ?? -1;
    this.rng = new Rng(options.seed ?? 0);
  }

  sample(assign: AssignResult): SamplingResult {
    const pos: number[] = [];
    const neg: number[] = [];
    for (let i = 0; i < assign.gtInds.length; i++) {
      const v = assign.gtInds[i]!;
      if (v > 0) pos.push(i);
      else if (v === 0) neg.push(i);
    }
    const numPos = Math.floor(this.num * this.posFraction);
    const posInds = pos.length > numPos ? this.rng.choice(pos, numPos) : pos;
    let numNeg = this.num - posInds.length;
    if (this.negPosUb >= 0) numNeg = Math.min(numNeg, Math.floor(this.negPosUb * Math.max(1, posInds.length)));
    const negInds = neg.length > numNeg ? this.rng.choice(neg, numNeg) : neg;
    return { posInds: Int32Array.from(posInds), negInds: Int32Array.from(negInds) };
  }
}
