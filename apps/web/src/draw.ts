import type { RgbImage } from '@partialnet/data/image-batch';
import type { Detections } from '@partialnet/detection';

const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#9a6324', '#469990', '#800000'];

export function colorOf(label: number): string {
  return PALETTE[label % PALETTE.length]!;
}

/** Pixels of a dropped image, exactly as stored (no colour management, alpha ignored). */
export async function decodeImage(file: Blob): Promise<RgbImage> {
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const data = new Uint8Array(canvas.width * canvas.height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    data[j] = rgba[i]!;
    data[j + 1] = rgba[i + 1]!;
    data[j + 2] = rgba[i + 2]!;
  }
  return { data, width: canvas.width, height: canvas.height };
}

/** Draws the image, then masks, boxes and "class score" labels of the detections at or above `minScore`. */
export function drawDetections(canvas: HTMLCanvasElement, image: RgbImage, dets: Detections | undefined, classNames: readonly string[], minScore: number): void {
  // Small images are drawn larger so that labels stay readable.
  const zoom = Math.max(1, Math.floor(512 / Math.max(image.width, image.height)));
  canvas.width = image.width * zoom;
  canvas.height = image.height * zoom;
  const ctx = canvas.getContext('2d')!;
  const rgba = new ImageData(image.width, image.height);
  for (let i = 0, j = 0; j < image.data.length; i += 4, j += 3) {
    rgba.data[i] = image.data[j]!;
    rgba.data[i + 1] = image.data[j + 1]!;
    rgba.data[i + 2] = image.data[j + 2]!;
    rgba.data[i + 3] = 255;
  }
  if (dets) paintMasks(rgba, image, dets, minScore);
  const layer = new OffscreenCanvas(image.width, image.height);
  layer.getContext('2d')!.putImageData(rgba, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(layer, 0, 0, canvas.width, canvas.height);
  if (!dets) return;
  // Cards show the canvas at about 320-500 px: size strokes and labels for that.
  const px = Math.max(12, Math.round(canvas.width / 26));
  ctx.lineWidth = Math.max(2, px / 7);
  ctx.font = `600 ${px}px system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  for (let k = 0; k < dets.scores.length; k++) {
    if (dets.scores[k]! < minScore) continue;
    const [x1, y1, x2, y2] = Array.from(dets.boxes.subarray(4 * k, 4 * k + 4), (v) => v * zoom);
    const color = colorOf(dets.labels[k]!);
    ctx.strokeStyle = color;
    ctx.strokeRect(x1!, y1!, x2! - x1!, y2! - y1!);
    const text = `${classNames[dets.labels[k]!] ?? dets.labels[k]} ${dets.scores[k]!.toFixed(2)}`;
    const w = ctx.measureText(text).width + px / 2;
    const h = px * 1.3;
    const ty = Math.max(0, y1! - h);
    ctx.fillStyle = color;
    ctx.fillRect(x1!, ty, w, h);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, x1! + px / 4, ty + px * 0.15);
  }
}

/** Blends each kept mask (column-major, COCO order) into the pixels. */
function paintMasks(rgba: ImageData, image: RgbImage, dets: Detections, minScore: number): void {
  if (!dets.masks || !dets.maskShape) return;
  const [h, w] = dets.maskShape;
  if (h !== image.height || w !== image.width) return;
  for (let k = 0; k < dets.masks.length; k++) {
    if (dets.scores[k]! < minScore) continue;
    const mask = dets.masks[k]!;
    const c = colorOf(dets.labels[k]!);
    const rgb = [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
    for (let x = 0; x < w; x++) {
      for (let y = 0; y < h; y++) {
        if (!mask[x * h + y]) continue;
        const p = 4 * (y * w + x);
        for (let ch = 0; ch < 3; ch++) rgba.data[p + ch] = Math.round(0.55 * rgba.data[p + ch]! + 0.45 * rgb[ch]!);
      }
    }
  }
}
