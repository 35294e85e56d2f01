/**
 * timm's batch-mode Mixup and CutMix on host arrays. Every sample is mixed with its partner in the
 * reversed batch (sample i with n - 1 - i, timm's `x.flip(0)`), and the targets likewise with the
 * same weight, which for CutMix is corrected to the area of the box actually pasted.
 */
import type { Rng } from '@partialnet/core/random';

export interface MixOptions {
  /** Mixup Beta(alpha, alpha) parameter; 0 turns mixup off. */
  mixup: number;
  /** CutMix Beta(alpha, alpha) parameter; 0 turns cutmix off. */
  cutmix: number;
  /** With both on: the probability that a batch uses CutMix instead of mixup (timm: 0.5). */
  switchProb: number;
}

export interface MixResult {
  mode: 'mixup' | 'cutmix';
  /** The weight of each sample's own target; its partner's gets 1 - lam. */
  lam: number;
  /** CutMix: the pasted rectangle [x1, y1, x2, y2) (the same for every sample of the batch). */
  box?: [number, number, number, number];
}

/** true when the options turn any mixing on. */
export function mixEnabled(o: MixOptions): boolean {
  return o.mixup > 0 || o.cutmix > 0;
}

/** Gamma(a, 1) (Marsaglia-Tsang, with the a < 1 boost). */
function sampleGamma(a: number, rng: Rng): number {
  if (a < 1) return sampleGamma(a + 1, rng) * rng.next() ** (1 / a);
  const d = a - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      // Box-Muller; the clamp keeps log() finite.
      const u1 = Math.max(rng.next(), 1e-12);
      const u2 = rng.next();
      x = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** A Beta(a, b) draw. */
export function sampleBeta(a: number, b: number, rng: Rng): number {
  const x = sampleGamma(a, rng);
  const y = sampleGamma(b, rng);
  return x / (x + y);
}

/**
 * Mixes a batch of `n` HWC images (`height` x `width` x 3, contiguous) in place with the reversed
 * batch, choosing mixup or CutMix as timm does, and returns the target weight to use with
 * `mixTargets`. Throws when neither is on.
 */
export function mixImages(images: Float32Array, n: number, height: number, width: number, o: MixOptions, rng: Rng): MixResult {
  if (!mixEnabled(o)) throw new Error('mixImages: mixup and cutmix are both off');
  const per = height * width * 3;
  if (images.length < n * per) throw new RangeError(`mixImages: ${images.length} values hold fewer than ${n} images of ${width}x${height}x3`);
  const useCutmix = o.cutmix > 0 && (o.mixup <= 0 || rng.chance(o.switchProb));
  const alpha = useCutmix ? o.cutmix : o.mixup;
  const lam = sampleBeta(alpha, alpha, rng);
  // Partners read the unmixed pixels, so mix from a copy.
  const src = images.slice(0, n * per);
  if (!useCutmix) {
    for (let i = 0; i < n; i++) {
      const j = n - 1 - i;
      for (let k = 0; k < per; k++) images[i * per + k] = lam * src[i * per + k]! + (1 - lam) * src[j * per + k]!;
    }
    return { mode: 'mixup', lam };
  }
  // timm's rand_bbox: a box of side sqrt(1 - lam) around a uniform centre, clipped to the image.
  const cut = Math.sqrt(1 - lam);
  const cw = Math.floor(width * cut);
  const ch = Math.floor(height * cut);
  const cx = rng.intInclusive(0, width - 1);
  const cy = rng.intInclusive(0, height - 1);
  const x1 = Math.max(cx - (cw >> 1), 0);
  const x2 = Math.min(cx + (cw >> 1), width);
  const y1 = Math.max(cy - (ch >> 1), 0);
  const y2 = Math.min(cy + (ch >> 1), height);
  for (let i = 0; i < n; i++) {
    const j = n - 1 - i;
    for (let y = y1; y < y2; y++) images.set(src.subarray(j * per + (y * width + x1) * 3, j * per + (y * width + x2) * 3), i * per + (y * width + x1) * 3);
  }
  return { mode: 'cutmix', lam: 1 - ((x2 - x1) * (y2 - y1)) / (width * height), box: [x1, y1, x2, y2] };
}

/**
 * Row i of the result is lam * targets[i] + (1 - lam) * targets[n - 1 - i], for `targets` [n, K]
 * row-major (one-hot or label-smoothed): the label side of `mixImages`.
 */
export function mixTargets(targets: Float32Array, numClasses: number, lam: number): Float32Array {
  const n = targets.length / numClasses;
  if (!Number.isInteger(n)) throw new RangeError(`mixTargets: ${targets.length} values are not rows of ${numClasses}`);
  const out = new Float32Array(targets.length);
  for (let i = 0; i < n; i++) {
    const j = n - 1 - i;
    for (let c = 0; c < numClasses; c++) out[i * numClasses + c] = lam * targets[i * numClasses + c]! + (1 - lam) * targets[j * numClasses + c]!;
  }
  return out;
}
