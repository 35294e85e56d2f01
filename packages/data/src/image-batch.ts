/**
 * `@partialnet/data/image-batch`: decoded images to a model batch with no file or thread in sight,
 * for pages and other hosts that decode images themselves (a browser's canvas). The same
 * transforms and the same fused resize/normalize pass as the data loader, so a detector sees the
 * very same input tensor as `partialnet predict` gives it for the same RGB pixels.
 */
import { collate, type Batch } from './collate.js';
import { makeSample } from './make-sample.js';
import { Rng } from '@partialnet/core/random';
import { applyTransforms, testPipeline } from './transforms.js';
import type { RgbImage } from './types.js';

export type { Batch } from './collate.js';
export type { ImageMeta, RgbImage } from './types.js';
export { testPipeline } from './transforms.js';

/**
 * A padded NHWC float32 batch of `images` through the inference pipeline (keep-ratio resize to
 * `scale`, ImageNet normalization, pad to 32), with the metas that map predictions back.
 */
export function imageBatch(images: readonly RgbImage[], scale: [number, number], names: readonly string[] = []): Batch {
  const specs = testPipeline({ scale });
  const samples = images.map((image, index) => {
    const record = { index, imageId: index + 1, file: names[index] ?? `image-${index + 1}` };
    const sample = makeSample(record, image, { boxes: new Float32Array(0), labels: new Int32Array(0), ignoreBoxes: new Float32Array(0) });
    // The inference pipeline draws nothing at random; the Rng only satisfies the signature.
    return applyTransforms(sample, specs, new Rng(0));
  });
  return collate(samples);
}
