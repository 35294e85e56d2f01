import type { Sample } from './transforms.js';
import type { ImageMeta, RgbImage, SampleRecord, Targets } from './types.js';

/** A sample at its original size with no transform applied. */
export function makeSample(r: SampleRecord, image: RgbImage, targets: Targets): Sample {
  const meta: ImageMeta = {
    index: r.index,
    imageId: r.imageId,
    file: r.file,
    oriShape: [image.height, image.width],
    imgShape: [image.height, image.width],
    padShape: [image.height, image.width],
    scaleFactor: [1, 1],
    flip: false,
    padDivisor: 1,
  };
  return { image: { kind: 'lazy', source: image, width: image.width, height: image.height, flip: false }, targets, meta };
}
