import { drawTargets, type InstanceMask, type RgbImage } from '@partialnet/data';
import type { Detections } from '@partialnet/detection';

/** The detections scoring at least `scoreThr`, in score order. */
export function filterDetections(dets: Detections, scoreThr: number): Detections {
  const keep: number[] = [];
  for (let i = 0; i < dets.scores.length; i++) if (dets.scores[i]! >= scoreThr) keep.push(i);
  const out: Detections = {
    boxes: Float32Array.from(keep.flatMap((i) => [dets.boxes[4 * i]!, dets.boxes[4 * i + 1]!, dets.boxes[4 * i + 2]!, dets.boxes[4 * i + 3]!])),
    scores: Float32Array.from(keep.map((i) => dets.scores[i]!)),
    labels: Int32Array.from(keep.map((i) => dets.labels[i]!)),
  };
  if (dets.masks && dets.maskShape) {
    out.masks = keep.map((i) => dets.masks![i]!);
    out.maskShape = dets.maskShape;
  }
  return out;
}

/** A column-major (COCO mask API) mask in the row-major order the drawing helpers take. */
function rowMajor(mask: Uint8Array, h: number, w: number): Uint8Array {
  const data = new Uint8Array(h * w);
  for (let x = 0; x < w; x++) for (let y = 0; y < h; y++) data[y * w + x] = mask[x * h + y]!;
  return data;
}

export interface DrawDetectionsOptions {
  /**
   * Enlarge small images (nearest neighbour, by a whole factor) until their long side reaches about
   * this many pixels, so that the 5x7 label font stays readable. Default 0: draw at the original size.
   */
  upscaleTo?: number;
}

/** Nearest-neighbour enlargement by a whole factor of an interleaved w x h x channels array. */
function upscale(data: Uint8Array, w: number, h: number, channels: number, k: number): Uint8Array {
  const out = new Uint8Array(w * k * h * k * channels);
  const W = w * k;
  for (let y = 0; y < h * k; y++) {
    const row = Math.floor(y / k) * w;
    for (let x = 0; x < W; x++) {
      const s = (row + Math.floor(x / k)) * channels;
      const o = (y * W + x) * channels;
      for (let c = 0; c < channels; c++) out[o + c] = data[s + c]!;
    }
  }
  return out;
}

/**
 * The image with translucent masks, boxes and `class score` labels drawn in each class's colour.
 * `dets` must be in this image's coordinates (predict's default, rescale on).
 */
export function drawDetections(image: RgbImage, dets: Detections, classNames: readonly string[], options: DrawDetectionsOptions = {}): RgbImage {
  if (dets.maskShape && (dets.maskShape[0] !== image.height || dets.maskShape[1] !== image.width)) {
    throw new Error(`drawDetections: masks are ${dets.maskShape[1]}x${dets.maskShape[0]}, the image is ${image.width}x${image.height}`);
  }
  const k = Math.max(1, Math.floor((options.upscaleTo ?? 0) / Math.max(image.width, image.height)));
  const [h, w] = [image.height, image.width];
  const masks = dets.masks?.map((m): InstanceMask => ({ kind: 'bitmap', data: k === 1 ? rowMajor(m, h, w) : upscale(rowMajor(m, h, w), w, h, 1, k), width: w * k, height: h * k }));
  const canvas = k === 1 ? image : { data: upscale(image.data, w, h, 3, k), width: w * k, height: h * k };
  const boxes = k === 1 ? dets.boxes : Float32Array.from(dets.boxes, (v) => v * k);
  return drawTargets(canvas, { boxes, labels: dets.labels, scores: dets.scores, classNames, ...(masks ? { masks } : {}) });
}
