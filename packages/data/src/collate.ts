import { renderInto } from './kernels.js';
import { lutFor, type Sample } from './transforms.js';
import type { ImageMeta, Targets } from './types.js';

/** A padded NHWC float32 batch plus per-image targets and meta. */
export interface Batch {
  /** N * H * W * 3, normalized as the pipeline said, zero padded on the right and bottom. */
  images: Float32Array;
  shape: [number, number, number, number];
  targets: Targets[];
  metas: ImageMeta[];
  /** Semantic labels N * H * W padded with 255, when the samples have label maps. */
  semantic?: Uint8Array;
}

export interface CollateOptions {
  /** Pad H and W of the batch to a multiple of this (default: the largest divisor in the metas). */
  padDivisor?: number;
  /** A buffer to write images into when large enough (buffer reuse in hot loops). */
  out?: Float32Array;
}

/**
 * Stacks samples into one batch, rendering lazy pixels straight into the batch buffer (one fused
 * resize/flip/normalize pass) or copying pixels already rendered by a worker.
 */
export function collate(samples: readonly Sample[], options: CollateOptions = {}): Batch {
  if (samples.length === 0) throw new Error('collate: no samples');
  const div = options.padDivisor ?? Math.max(1, ...samples.map((s) => s.meta.padDivisor));
  let H = 0;
  let W = 0;
  for (const s of samples) {
    H = Math.max(H, s.meta.padShape[0], s.meta.imgShape[0]);
    W = Math.max(W, s.meta.padShape[1], s.meta.imgShape[1]);
  }
  H = Math.ceil(H / div) * div;
  W = Math.ceil(W / div) * div;
  const N = samples.length;
  const per = H * W * 3;
  const need = N * per;
  const images = options.out && options.out.length >= need ? options.out.subarray(0, need) : new Float32Array(need);
  const stride = W * 3;
  for (let i = 0; i < N; i++) {
    const s = samples[i]!;
    const [h, w] = s.meta.imgShape;
    const base = i * per;
    if (s.image.kind === 'lazy') {
      renderInto(s.image.source, w, h, s.image.flip, lutFor(s.meta), images, base, stride);
    } else {
      const px = s.image.pixels;
      const rw = w * 3;
      if (rw === stride) images.set(px.subarray(0, h * rw), base);
      else for (let y = 0; y < h; y++) images.set(px.subarray(y * rw, y * rw + rw), base + y * stride);
    }
    // Zero the padding (the buffer may hold an earlier batch).
    if (w * 3 < stride) for (let y = 0; y < h; y++) images.fill(0, base + y * stride + w * 3, base + (y + 1) * stride);
    if (h < H) images.fill(0, base + h * stride, base + per);
  }
  const batch: Batch = {
    images,
    shape: [N, H, W, 3],
    targets: samples.map((s) => s.targets),
    metas: samples.map((s) => s.meta),
  };
  if (samples.some((s) => s.targets.semantic)) {
    const sem = new Uint8Array(N * H * W).fill(255);
    samples.forEach((s, i) => {
      const m = s.targets.semantic;
      if (!m) return;
      for (let y = 0; y < m.height; y++) sem.set(m.data.subarray(y * m.width, (y + 1) * m.width), i * H * W + y * W);
    });
    batch.semantic = sem;
  }
  return batch;
}

/**
 * A batch cut into consecutive micro-batches of `size` images (views of its buffers, no copy). Each
 * keeps the batch's padded H x W, so together they hold exactly the pixels of the batch.
 */
export function splitBatch(batch: Batch, size: number): Batch[] {
  const [N, H, W, C] = batch.shape;
  if (!(Number.isInteger(size) && size >= 1 && N % size === 0)) throw new Error(`splitBatch: ${size} does not divide the batch of ${N} images`);
  if (size === N) return [batch];
  const per = H * W * C;
  const out: Batch[] = [];
  for (let i = 0; i < N; i += size) {
    const part: Batch = {
      images: batch.images.subarray(i * per, (i + size) * per),
      shape: [size, H, W, C],
      targets: batch.targets.slice(i, i + size),
      metas: batch.metas.slice(i, i + size),
    };
    if (batch.semantic) part.semantic = batch.semantic.subarray(i * H * W, (i + size) * H * W);
    out.push(part);
  }
  return out;
}
