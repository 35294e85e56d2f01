/**
 * The ImageNet classification transforms: torchvision's RandomResizedCrop + horizontal flip for
 * training, resize + centre crop (timm's crop_pct) for evaluation, each resized to a square and
 * normalised straight into a batch buffer.
 */
import { normalizeTable, renderInto } from './kernels.js';
import type { Rng } from '@partialnet/core/random';
import { IMAGENET_MEAN, IMAGENET_STD } from './transforms.js';
import type { RgbImage } from './types.js';

/** A crop rectangle in pixels: top-left corner and size. */
export interface CropBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface RandomResizedCropOptions {
  /** Range of the crop's area as a fraction of the image's. Default [0.08, 1]. */
  scale?: [number, number];
  /** Range of the crop's aspect ratio w / h (sampled log-uniformly). Default [3/4, 4/3]. */
  ratio?: [number, number];
}

/**
 * torchvision's RandomResizedCrop.get_params: up to 10 tries of an area in `scale` and a
 * log-uniform aspect ratio in `ratio`; when none fits, a centred crop of the whole image with its
 * aspect ratio clamped into `ratio`.
 */
export function randomResizedCropBox(width: number, height: number, rng: Rng, scale: [number, number] = [0.08, 1], ratio: [number, number] = [3 / 4, 4 / 3]): CropBox {
  const area = width * height;
  const [lr0, lr1] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(lr0, lr1));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) return { x: rng.intInclusive(0, width - w), y: rng.intInclusive(0, height - h), w, h };
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), w, h };
}

/** The eval crop: a centred square of `cropPct` of the shorter side (timm's crop_pct 0.875). */
export function centerCropBox(width: number, height: number, cropPct = 0.875): CropBox {
  const side = Math.max(1, Math.round(Math.min(width, height) * cropPct));
  return { x: Math.floor((width - side) / 2), y: Math.floor((height - side) / 2), w: side, h: side };
}

/** The pixels of `box` as a new image (the image itself when the box covers all of it). */
export function cropRgb(img: RgbImage, box: CropBox): RgbImage {
  if (box.x === 0 && box.y === 0 && box.w === img.width && box.h === img.height) return img;
  if (box.x < 0 || box.y < 0 || box.w < 1 || box.h < 1 || box.x + box.w > img.width || box.y + box.h > img.height) {
    throw new RangeError(`cropRgb: box ${JSON.stringify(box)} is not inside the ${img.width}x${img.height} image`);
  }
  const data = new Uint8Array(box.w * box.h * 3);
  for (let row = 0; row < box.h; row++) {
    const src = ((box.y + row) * img.width + box.x) * 3;
    data.set(img.data.subarray(src, src + box.w * 3), row * box.w * 3);
  }
  return { data, width: box.w, height: box.h };
}

/** What one classification sample becomes: which pixels, whether mirrored. */
export interface ClassificationView {
  crop: CropBox;
  flip: boolean;
}

export interface ClassificationTrainTransform extends RandomResizedCropOptions {
  /** Probability of a horizontal flip. Default 0.5. */
  flipProb?: number;
}

/** Draws a training view (crop, then flip, in this order from `rng`). */
export function randomClassificationView(width: number, height: number, rng: Rng, o: ClassificationTrainTransform = {}): ClassificationView {
  const crop = randomResizedCropBox(width, height, rng, o.scale, o.ratio);
  return { crop, flip: rng.chance(o.flipProb ?? 0.5) };
}

const IMAGENET_LUT = normalizeTable(IMAGENET_MEAN, IMAGENET_STD);

/**
 * Crops `img` to `view.crop`, resizes it to size x size (bilinear), mirrors it when `view.flip`
 * and writes it ImageNet-normalised as HWC floats into `out` at image slot `slot`.
 */
export function renderClassificationSample(img: RgbImage, view: ClassificationView, size: number, out: Float32Array, slot: number, lut: Float32Array = IMAGENET_LUT): void {
  renderInto(cropRgb(img, view.crop), size, size, view.flip, lut, out, slot * size * size * 3, size * 3);
}
