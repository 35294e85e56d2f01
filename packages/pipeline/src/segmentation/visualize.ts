import type { LabelMap, RgbImage } from '@partialnet/data';

/**
 * The PASCAL VOC colour of a label: the bits of the label spread over the high bits of R, G and B
 * (label 0 black, 1 dark red, 2 dark green, ...), the colour map VOC-style label PNGs use; 255
 * (ignore) is drawn white.
 */
export function vocColor(label: number): [number, number, number] {
  if (label === 255) return [255, 255, 255];
  let r = 0;
  let g = 0;
  let b = 0;
  let c = label;
  for (let j = 0; j < 8; j++) {
    r |= ((c >> 0) & 1) << (7 - j);
    g |= ((c >> 1) & 1) << (7 - j);
    b |= ((c >> 2) & 1) << (7 - j);
    c >>= 3;
  }
  return [r, g, b];
}

/** A label map in VOC colours. */
export function colorizeLabels(map: LabelMap): RgbImage {
  const data = new Uint8Array(map.width * map.height * 3);
  const lut = Array.from({ length: 256 }, (_, k) => vocColor(k));
  for (let i = 0; i < map.data.length; i++) data.set(lut[map.data[i]!]!, i * 3);
  return { data, width: map.width, height: map.height };
}

/** The image with the coloured labels blended in (`alpha` of the colour); label 0 is blended too unless `skipBackground`. */
export function overlayLabels(image: RgbImage, map: LabelMap, o: { alpha?: number; skipBackground?: boolean } = {}): RgbImage {
  if (image.width !== map.width || image.height !== map.height) throw new Error(`overlayLabels: image ${image.width}x${image.height}, labels ${map.width}x${map.height}`);
  const a = o.alpha ?? 0.5;
  const out = new Uint8Array(image.data);
  for (let i = 0; i < map.data.length; i++) {
    const k = map.data[i]!;
    if (o.skipBackground && k === 0) continue;
    const c = vocColor(k);
    for (let ch = 0; ch < 3; ch++) out[i * 3 + ch] = Math.round((1 - a) * image.data[i * 3 + ch]! + a * c[ch]!);
  }
  return { data: out, width: image.width, height: image.height };
}
