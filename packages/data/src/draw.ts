/**
 * Minimal raster drawing on RGB uint8 images for visual checks (`partialnet data show`): mask
 * overlays, box outlines and labels in a built-in 5x7 font, so nothing depends on system fonts.
 */
import { instanceBitmap } from './masks.js';
import type { InstanceMask, RgbImage } from './types.js';

// 5x7 glyphs, one number per row, bit 4 = leftmost column.
const FONT: Record<string, number[]> = {
  A: [14, 17, 17, 31, 17, 17, 17], B: [30, 17, 17, 30, 17, 17, 30], C: [14, 17, 16, 16, 16, 17, 14],
  D: [30, 17, 17, 17, 17, 17, 30], E: [31, 16, 16, 30, 16, 16, 31], F: [31, 16, 16, 30, 16, 16, 16],
  G: [14, 17, 16, 23, 17, 17, 15], H: [17, 17, 17, 31, 17, 17, 17], I: [14, 4, 4, 4, 4, 4, 14],
  J: [7, 2, 2, 2, 2, 18, 12], K: [17, 18, 20, 24, 20, 18, 17], L: [16, 16, 16, 16, 16, 16, 31],
  M: [17, 27, 21, 21, 17, 17, 17], N: [17, 17, 25, 21, 19, 17, 17], O: [14, 17, 17, 17, 17, 17, 14],
  P: [30, 17, 17, 30, 16, 16, 16], Q: [14, 17, 17, 17, 21, 18, 13], R: [30, 17, 17, 30, 20, 18, 17],
  S: [15, 16, 16, 14, 1, 1, 30], T: [31, 4, 4, 4, 4, 4, 4], U: [17, 17, 17, 17, 17, 17, 14],
  V: [17, 17, 17, 17, 17, 10, 4], W: [17, 17, 17, 21, 21, 21, 10], X: [17, 17, 10, 4, 10, 17, 17],
  Y: [17, 17, 10, 4, 4, 4, 4], Z: [31, 1, 2, 4, 8, 16, 31],
  '0': [14, 17, 19, 21, 25, 17, 14], '1': [4, 12, 4, 4, 4, 4, 14], '2': [14, 17, 1, 2, 4, 8, 31],
  '3': [31, 2, 4, 2, 1, 17, 14], '4': [2, 6, 10, 18, 31, 2, 2], '5': [31, 16, 30, 1, 1, 17, 14],
  '6': [6, 8, 16, 30, 17, 17, 14], '7': [31, 1, 2, 4, 8, 8, 8], '8': [14, 17, 17, 14, 17, 17, 14],
  '9': [14, 17, 17, 15, 1, 2, 12], ' ': [0, 0, 0, 0, 0, 0, 0], '-': [0, 0, 0, 31, 0, 0, 0],
  '.': [0, 0, 0, 0, 0, 12, 12], ':': [0, 12, 12, 0, 12, 12, 0], '_': [0, 0, 0, 0, 0, 0, 31],
  '/': [1, 1, 2, 4, 8, 16, 16], '?': [14, 17, 1, 2, 4, 0, 4], '#': [10, 10, 31, 10, 31, 10, 10],
};

export type Color = [number, number, number];

/** A palette of distinct colours for labels. */
export function labelColor(label: number): Color {
  const palette: Color[] = [
    [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
    [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128], [170, 110, 40],
  ];
  return palette[((label % palette.length) + palette.length) % palette.length]!;
}

function setPx(img: RgbImage, x: number, y: number, c: Color): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  const o = (y * img.width + x) * 3;
  img.data[o] = c[0];
  img.data[o + 1] = c[1];
  img.data[o + 2] = c[2];
}

/** Fills an axis-aligned rectangle (clipped). */
export function fillRect(img: RgbImage, x1: number, y1: number, x2: number, y2: number, c: Color): void {
  for (let y = Math.max(0, Math.floor(y1)); y < Math.min(img.height, Math.ceil(y2)); y++) {
    for (let x = Math.max(0, Math.floor(x1)); x < Math.min(img.width, Math.ceil(x2)); x++) setPx(img, x, y, c);
  }
}

/** Outlines box [x1, y1, x2, y2] with the given thickness, inside the box edges; dashed optional. */
export function drawBox(img: RgbImage, box: ArrayLike<number>, c: Color, thickness = 2, dashed = false): void {
  const x1 = Math.round(box[0]!);
  const y1 = Math.round(box[1]!);
  const x2 = Math.round(box[2]!) - 1;
  const y2 = Math.round(box[3]!) - 1;
  for (let t = 0; t < thickness; t++) {
    for (let x = x1; x <= x2; x++) {
      if (dashed && (x >> 2) % 2) continue;
      setPx(img, x, y1 + t, c);
      setPx(img, x, y2 - t, c);
    }
    for (let y = y1; y <= y2; y++) {
      if (dashed && (y >> 2) % 2) continue;
      setPx(img, x1 + t, y, c);
      setPx(img, x2 - t, y, c);
    }
  }
}

/** Writes text (upper-cased) at (x, y) = top-left, on a filled background, scale = pixel size. */
export function drawText(img: RgbImage, text: string, x: number, y: number, c: Color, bg: Color | null = [0, 0, 0], scale = 1): void {
  const s = text.toUpperCase();
  if (bg) fillRect(img, x - 1, y - 1, x + s.length * 6 * scale, y + 8 * scale, bg);
  for (let i = 0; i < s.length; i++) {
    const g = FONT[s[i]!] ?? FONT['?']!;
    for (let row = 0; row < 7; row++) {
      for (let col = 0; col < 5; col++) {
        if (!((g[row]! >> (4 - col)) & 1)) continue;
        for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) setPx(img, x + (i * 6 + col) * scale + dx, y + row * scale + dy, c);
      }
    }
  }
}

/** Blends `c` over the pixels where mask (row-major, mask width may exceed image) is set; outlines its edge. */
export function overlayMask(img: RgbImage, mask: Uint8Array, maskW: number, maskH: number, c: Color, alpha = 0.45): void {
  const h = Math.min(maskH, img.height);
  const w = Math.min(maskW, img.width);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!mask[y * maskW + x]) continue;
      const edge =
        x === 0 || y === 0 || x === maskW - 1 || y === maskH - 1 ||
        !mask[y * maskW + x - 1] || !mask[y * maskW + x + 1] || !mask[(y - 1) * maskW + x] || !mask[(y + 1) * maskW + x];
      const o = (y * img.width + x) * 3;
      const a = edge ? 1 : alpha;
      for (let k = 0; k < 3; k++) img.data[o + k] = Math.round(img.data[o + k]! * (1 - a) + c[k]! * a);
    }
  }
}

export interface DrawTargetsOptions {
  boxes: ArrayLike<number>;
  labels: ArrayLike<number>;
  masks?: InstanceMask[];
  ignoreBoxes?: ArrayLike<number>;
  classNames?: readonly string[];
  scores?: ArrayLike<number>;
}

/** Draws masks, boxes, labels (and dashed grey ignore boxes) onto a copy of the image. */
export function drawTargets(image: RgbImage, t: DrawTargetsOptions): RgbImage {
  const img: RgbImage = { data: Uint8Array.from(image.data), width: image.width, height: image.height };
  const n = t.labels.length;
  if (t.masks) {
    for (let i = 0; i < n; i++) {
      const m = t.masks[i];
      if (m) overlayMask(img, instanceBitmap(m, img.height, img.width), img.width, img.height, labelColor(t.labels[i]!));
    }
  }
  const ig = t.ignoreBoxes ?? [];
  for (let i = 0; i + 3 < ig.length; i += 4) drawBox(img, [ig[i]!, ig[i + 1]!, ig[i + 2]!, ig[i + 3]!], [160, 160, 160], 1, true);
  for (let i = 0; i < n; i++) {
    const box = [t.boxes[i * 4]!, t.boxes[i * 4 + 1]!, t.boxes[i * 4 + 2]!, t.boxes[i * 4 + 3]!];
    const c = labelColor(t.labels[i]!);
    drawBox(img, box, c, 2);
    const name = t.classNames?.[t.labels[i]!] ?? String(t.labels[i]);
    const text = t.scores ? `${name} ${t.scores[i]!.toFixed(2)}` : name;
    const ty = box[1]! >= 10 ? Math.round(box[1]!) - 9 : Math.round(box[1]!) + 2;
    drawText(img, text, Math.round(box[0]!) + 1, ty, [255, 255, 255], [Math.round(c[0] * 0.6), Math.round(c[1] * 0.6), Math.round(c[2] * 0.6)]);
  }
  return img;
}
