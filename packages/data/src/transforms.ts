/**
 * Transforms that move boxes, masks and label maps with the pixels, and record what they did in
 * the sample's meta so predictions can be mapped back (`boxesToOriginal`, `maskToOriginal`).
 *
 * Transforms are plain, serializable specs (`{ type: 'resize', ... }`) so the same pipeline runs
 * in worker threads. Geometric transforms act on targets at once but only record their effect on
 * the pixels: the pixels are produced once, at the end, by one fused pass (bilinear resize + flip +
 * normalize, see kernels.ts) straight into the batch buffer. Normalize and Pad likewise record
 * their parameters and are carried out by that pass and by `collate`.
 */
import { flipMap, normalizeTable, renderInto, resizeLabelMap, resizeNearest, resizeRgb } from './kernels.js';
import type { Rng } from '@partialnet/core/random';
import type { ImageMeta, InstanceMask, LabelMap, PhotometricParams, RgbImage, Targets } from './types.js';

/** ImageNet statistics on the 0..255 scale, RGB order (mmdet / torchvision defaults). */
export const IMAGENET_MEAN: [number, number, number] = [123.675, 116.28, 103.53];
export const IMAGENET_STD: [number, number, number] = [58.395, 57.12, 57.375];

/** Pixels not yet rendered: the decoded image plus the pending resize and flip. */
export interface LazyImage {
  kind: 'lazy';
  source: RgbImage;
  /** Current (logical) size after the recorded resizes. */
  width: number;
  height: number;
  flip: boolean;
}

/** Pixels already rendered (resized, flipped, normalized) as float32 HWC, e.g. by a worker. */
export interface RenderedImage {
  kind: 'rendered';
  pixels: Float32Array;
  width: number;
  height: number;
}

/** One image with its targets and meta, as it moves through the pipeline. */
export interface Sample {
  image: LazyImage | RenderedImage;
  targets: Targets;
  meta: ImageMeta;
}

export interface ResizeSpec {
  type: 'resize';
  /**
   * Candidate scales. With keepRatio, each is (long, short) edge limits, in either order, like
   * mmdet's (1333, 800); without, each is the exact (width, height).
   */
  scales: [number, number][];
  keepRatio: boolean;
  /** 'choice': pick one of `scales`; 'range': two scales bound a random one (mmdet's 'range'). */
  multiscaleMode: 'choice' | 'range';
  /**
   * mmseg's RandomResize ratio_range: the (single) scale is multiplied by a ratio drawn uniformly
   * from this range (and truncated to integers, as mmseg does) before the keep-ratio resize.
   */
  ratioRange?: [number, number];
}
/**
 * mmseg's RandomCrop: a crop of at most `size` ([height, width]) at a uniformly random offset;
 * with catMaxRatio < 1 it draws again (up to 10 times) while a single class covers catMaxRatio or
 * more of the crop's labelled pixels, or only one class is present.
 */
export interface CropSpec {
  type: 'crop';
  size: [number, number];
  catMaxRatio: number;
  ignoreIndex: number;
}
export interface FlipSpec {
  type: 'flip';
  prob: number;
}
export interface NormalizeSpec {
  type: 'normalize';
  mean: [number, number, number];
  std: [number, number, number];
}
export interface PadSpec {
  type: 'pad';
  divisor: number;
  /** Pad to at least this [height, width] (mmseg's data preprocessor pads crops to crop_size). */
  size?: [number, number];
}
export interface PhotometricSpec {
  type: 'photometric';
  brightnessDelta: number;
  contrastRange: [number, number];
  saturationRange: [number, number];
  /** In OpenCV hue units (half degrees), as mmdet: 18 means +-36 degrees. */
  hueDelta: number;
}
export type TransformSpec = ResizeSpec | CropSpec | FlipSpec | NormalizeSpec | PadSpec | PhotometricSpec;

// ---- factories ------------------------------------------------------------------------------

export function resize(
  scale: [number, number] | [number, number][],
  options: { keepRatio?: boolean; multiscaleMode?: 'choice' | 'range' } = {},
): ResizeSpec {
  const scales = (Array.isArray(scale[0]) ? scale : [scale]) as [number, number][];
  if (scales.length === 0) throw new Error('resize: no scale given');
  for (const s of scales) if (!(s[0] > 0 && s[1] > 0)) throw new Error(`resize: bad scale ${JSON.stringify(s)}`);
  const mode = options.multiscaleMode ?? 'choice';
  if (mode === 'range' && scales.length !== 2) throw new Error("resize: 'range' mode needs exactly two scales");
  return { type: 'resize', scales, keepRatio: options.keepRatio ?? true, multiscaleMode: mode };
}

/** mmseg's RandomResize(scale, ratio_range, keep_ratio=True). */
export function randomResizeRatio(scale: [number, number], ratioRange: [number, number] = [0.5, 2.0]): ResizeSpec {
  if (!(ratioRange[0] > 0 && ratioRange[1] >= ratioRange[0])) throw new Error(`randomResizeRatio: bad ratio range ${JSON.stringify(ratioRange)}`);
  return { ...resize(scale), ratioRange: [ratioRange[0], ratioRange[1]] };
}

/** mmseg's RandomCrop(crop_size=[h, w], cat_max_ratio) for label maps with `ignoreIndex`. */
export function randomCrop(size: [number, number], catMaxRatio = 0.75, ignoreIndex = 255): CropSpec {
  if (!(size[0] >= 1 && size[1] >= 1 && Number.isInteger(size[0]) && Number.isInteger(size[1]))) throw new Error(`randomCrop: size must be two positive integers, got ${JSON.stringify(size)}`);
  if (!(catMaxRatio > 0 && catMaxRatio <= 1)) throw new Error(`randomCrop: catMaxRatio must be in (0, 1], got ${catMaxRatio}`);
  return { type: 'crop', size: [size[0], size[1]], catMaxRatio, ignoreIndex };
}

export function randomFlip(prob = 0.5): FlipSpec {
  return { type: 'flip', prob };
}

export function normalize(mean = IMAGENET_MEAN, std = IMAGENET_STD): NormalizeSpec {
  return { type: 'normalize', mean: [...mean], std: [...std] };
}

export function pad(divisor = 32, size?: [number, number]): PadSpec {
  if (!(divisor >= 1 && Number.isInteger(divisor))) throw new Error(`pad: divisor must be a positive integer, got ${divisor}`);
  return size ? { type: 'pad', divisor, size: [size[0], size[1]] } : { type: 'pad', divisor };
}

export function photometricDistortion(options: Partial<Omit<PhotometricSpec, 'type'>> = {}): PhotometricSpec {
  return {
    type: 'photometric',
    brightnessDelta: options.brightnessDelta ?? 32,
    contrastRange: options.contrastRange ?? [0.5, 1.5],
    saturationRange: options.saturationRange ?? [0.5, 1.5],
    hueDelta: options.hueDelta ?? 18,
  };
}

export interface PipelineOptions {
  /** (long, short) scale(s); several mean multi-scale training (choice). Default (1333, 800). */
  scale?: [number, number] | [number, number][];
  multiscaleMode?: 'choice' | 'range';
  flipProb?: number;
  mean?: [number, number, number];
  std?: [number, number, number];
  padDivisor?: number;
  photometric?: boolean;
}

/** mmdet's standard training pipeline: Resize(keep ratio) -> RandomFlip -> Normalize -> Pad. */
export function trainPipeline(o: PipelineOptions = {}): TransformSpec[] {
  const specs: TransformSpec[] = [];
  if (o.photometric) specs.push(photometricDistortion());
  specs.push(resize(o.scale ?? [1333, 800], { multiscaleMode: o.multiscaleMode ?? 'choice' }));
  specs.push(randomFlip(o.flipProb ?? 0.5));
  specs.push(normalize(o.mean, o.std));
  specs.push(pad(o.padDivisor ?? 32));
  return specs;
}

/** Inference pipeline: Resize(keep ratio, first scale) -> Normalize -> Pad. */
export function testPipeline(o: Omit<PipelineOptions, 'flipProb' | 'photometric' | 'multiscaleMode'> = {}): TransformSpec[] {
  const scale = o.scale ?? [1333, 800];
  const first = (Array.isArray(scale[0]) ? scale[0] : scale) as [number, number];
  return [resize(first), normalize(o.mean, o.std), pad(o.padDivisor ?? 32)];
}

// ---- geometry -------------------------------------------------------------------------------

/** mmcv's rescale_size: the size that fits (long, short) edge limits keeping the aspect ratio. */
export function keepRatioSize(width: number, height: number, scale: readonly [number, number]): [number, number] {
  const long = Math.max(scale[0], scale[1]);
  const short = Math.min(scale[0], scale[1]);
  const factor = Math.min(long / Math.max(width, height), short / Math.min(width, height));
  return [Math.max(1, Math.floor(width * factor + 0.5)), Math.max(1, Math.floor(height * factor + 0.5))];
}

function chooseScale(spec: ResizeSpec, rng: Rng): [number, number] {
  if (spec.ratioRange) {
    const [lo, hi] = spec.ratioRange;
    const r = rng.next() * (hi - lo) + lo;
    const [a, b] = spec.scales[0]!;
    return [Math.trunc(a * r), Math.trunc(b * r)];
  }
  if (spec.scales.length === 1) return spec.scales[0]!;
  if (spec.multiscaleMode === 'choice') return rng.pick(spec.scales);
  const [a, b] = spec.scales as [[number, number], [number, number]];
  const longs = [Math.max(...a), Math.max(...b)].sort((p, q) => p - q) as [number, number];
  const shorts = [Math.min(...a), Math.min(...b)].sort((p, q) => p - q) as [number, number];
  return [rng.intInclusive(longs[0], longs[1]), rng.intInclusive(shorts[0], shorts[1])];
}

function scaleBoxes(boxes: Float32Array, sx: number, sy: number, w: number, h: number): void {
  for (let i = 0; i < boxes.length; i += 4) {
    boxes[i] = Math.min(Math.max(boxes[i]! * sx, 0), w);
    boxes[i + 1] = Math.min(Math.max(boxes[i + 1]! * sy, 0), h);
    boxes[i + 2] = Math.min(Math.max(boxes[i + 2]! * sx, 0), w);
    boxes[i + 3] = Math.min(Math.max(boxes[i + 3]! * sy, 0), h);
  }
}

function flipBoxes(boxes: Float32Array, w: number): void {
  for (let i = 0; i < boxes.length; i += 4) {
    const x1 = boxes[i]!;
    boxes[i] = w - boxes[i + 2]!;
    boxes[i + 2] = w - x1;
  }
}

function currentSize(s: Sample): [number, number] {
  return [s.meta.imgShape[1], s.meta.imgShape[0]];
}

/** Resizes the sample (lazily for pixels) to exactly newW x newH. */
export function resizeSample(s: Sample, newW: number, newH: number): void {
  const [w, h] = currentSize(s);
  if (s.image.kind !== 'lazy') throw new Error('resizeSample: pixels already rendered');
  const sx = newW / w;
  const sy = newH / h;
  const t = s.targets;
  scaleBoxes(t.boxes, sx, sy, newW, newH);
  scaleBoxes(t.ignoreBoxes, sx, sy, newW, newH);
  if (t.masks) t.masks = t.masks.map((m) => resizeMask(m, sx, sy, newW, newH));
  if (t.semantic) t.semantic = resizeLabelMap(t.semantic, newW, newH);
  s.image.width = newW;
  s.image.height = newH;
  const [oh, ow] = s.meta.oriShape;
  s.meta.imgShape = [newH, newW];
  s.meta.padShape = [newH, newW];
  s.meta.scaleFactor = [newW / ow, newH / oh];
}

function resizeMask(m: InstanceMask, sx: number, sy: number, newW: number, newH: number): InstanceMask {
  if (m.kind === 'polygons') {
    return {
      kind: 'polygons',
      polygons: m.polygons.map((p) => p.map((v, i) => (i & 1 ? v * sy : v * sx))),
    };
  }
  return { kind: 'bitmap', data: resizeNearest(m.data, m.width, m.height, newW, newH), width: newW, height: newH };
}

/** Mirrors the sample left-right (lazily for pixels). */
export function flipSample(s: Sample): void {
  const [w, h] = currentSize(s);
  if (s.image.kind !== 'lazy') throw new Error('flipSample: pixels already rendered');
  const t = s.targets;
  flipBoxes(t.boxes, w);
  flipBoxes(t.ignoreBoxes, w);
  if (t.masks) {
    t.masks = t.masks.map((m): InstanceMask =>
      m.kind === 'polygons'
        ? { kind: 'polygons', polygons: m.polygons.map((p) => p.map((v, i) => (i & 1 ? v : w - v))) }
        : { kind: 'bitmap', data: flipMap(m.data, m.width, m.height), width: m.width, height: m.height },
    );
  }
  if (t.semantic) t.semantic = { data: flipMap(t.semantic.data, w, h), width: w, height: h };
  s.image.flip = !s.image.flip;
  s.meta.flip = !s.meta.flip;
}

// ---- crop -----------------------------------------------------------------------------------

/** A crop window [y1, x1, height, width] inside the current image. */
export type CropWindow = [number, number, number, number];

function drawCrop(h: number, w: number, size: [number, number], rng: Rng): CropWindow {
  // mmseg: offset = randint(0, margin + 1); the crop is clipped at the image's border.
  const y = rng.intInclusive(0, Math.max(h - size[0], 0));
  const x = rng.intInclusive(0, Math.max(w - size[1], 0));
  return [y, x, Math.min(size[0], h - y), Math.min(size[1], w - x)];
}

/** The largest class share of a crop's labelled pixels, and how many classes it has. */
function classShare(map: LabelMap, win: CropWindow, ignore: number): { classes: number; maxShare: number } {
  const counts = new Float64Array(256);
  const [y0, x0, ch, cw] = win;
  for (let y = y0; y < y0 + ch; y++) {
    const row = y * map.width;
    for (let x = x0; x < x0 + cw; x++) counts[map.data[row + x]!]!++;
  }
  counts[ignore] = 0;
  let total = 0;
  let max = 0;
  let classes = 0;
  for (const c of counts) {
    if (c === 0) continue;
    classes++;
    total += c;
    if (c > max) max = c;
  }
  return { classes, maxShare: total > 0 ? max / total : 1 };
}

/** mmseg RandomCrop's choice: up to 10 redraws while the crop is dominated by one class. */
export function chooseCrop(s: Sample, spec: CropSpec, rng: Rng): CropWindow {
  const [h, w] = s.meta.imgShape;
  let win = drawCrop(h, w, spec.size, rng);
  const map = s.targets.semantic;
  if (spec.catMaxRatio < 1 && map) {
    for (let attempt = 0; attempt < 10; attempt++) {
      const { classes, maxShare } = classShare(map, win, spec.ignoreIndex);
      if (classes > 1 && maxShare < spec.catMaxRatio) break;
      win = drawCrop(h, w, spec.size, rng);
    }
  }
  return win;
}

/**
 * Crops the sample to `win`. The pending resize and flip are rendered first (uint8, as mmseg's
 * pipeline holds the resized image), so the crop is exact; the result is a lazy image again.
 * Instance targets are not cropped: semantic segmentation only.
 */
export function cropSample(s: Sample, win: CropWindow): void {
  if (s.image.kind !== 'lazy') throw new Error('cropSample: pixels already rendered');
  if (s.targets.labels.length > 0 || (s.targets.masks?.length ?? 0) > 0) throw new Error('crop: samples with instance targets cannot be cropped (semantic segmentation only)');
  const [y0, x0, ch, cw] = win;
  const [h, w] = s.meta.imgShape;
  if (!(y0 >= 0 && x0 >= 0 && ch >= 1 && cw >= 1 && y0 + ch <= h && x0 + cw <= w)) throw new Error(`crop: window ${JSON.stringify(win)} outside the ${w}x${h} image`);
  const img = s.image;
  const full = img.source.width === w && img.source.height === h && !img.flip ? img.source : resizeRgb(img.source, w, h, img.flip);
  const data = new Uint8Array(ch * cw * 3);
  for (let y = 0; y < ch; y++) data.set(full.data.subarray(((y0 + y) * w + x0) * 3, ((y0 + y) * w + x0 + cw) * 3), y * cw * 3);
  s.image = { kind: 'lazy', source: { data, width: cw, height: ch }, width: cw, height: ch, flip: false };
  const sem = s.targets.semantic;
  if (sem) {
    const out = new Uint8Array(ch * cw);
    for (let y = 0; y < ch; y++) out.set(sem.data.subarray((y0 + y) * w + x0, (y0 + y) * w + x0 + cw), y * cw);
    s.targets.semantic = { data: out, width: cw, height: ch };
  }
  s.meta.imgShape = [ch, cw];
  s.meta.padShape = [ch, cw];
}

// ---- photometric ----------------------------------------------------------------------------

function drawPhotometric(spec: PhotometricSpec, rng: Rng): PhotometricParams {
  return {
    brightness: rng.chance(0.5) ? rng.uniform(-spec.brightnessDelta, spec.brightnessDelta) : 0,
    contrastFirst: rng.chance(0.5),
    contrast: rng.chance(0.5) ? rng.uniform(spec.contrastRange[0], spec.contrastRange[1]) : 1,
    saturation: rng.chance(0.5) ? rng.uniform(spec.saturationRange[0], spec.saturationRange[1]) : 1,
    hue: rng.chance(0.5) ? rng.uniform(-spec.hueDelta, spec.hueDelta) : 0,
  };
}

/**
 * mmdet's PhotoMetricDistortion (brightness, contrast before or after, saturation and hue in HSV)
 * on uint8 RGB in place. Colour operations do not depend on position, so it runs on the decoded
 * image before the (lazy) resize; the result is clamped to 0..255.
 */
export function applyPhotometric(img: RgbImage, p: PhotometricParams): void {
  const d = img.data;
  const hsv = p.saturation !== 1 || p.hue !== 0;
  if (!hsv) {
    const lut = new Uint8Array(256);
    for (let v = 0; v < 256; v++) lut[v] = clamp255((v + p.brightness) * p.contrast);
    for (let i = 0; i < d.length; i++) d[i] = lut[d[i]!]!;
    return;
  }
  const pre = p.contrastFirst ? p.contrast : 1;
  const post = p.contrastFirst ? 1 : p.contrast;
  const hueShift = p.hue * 2; // OpenCV half-degrees -> degrees
  for (let i = 0; i < d.length; i += 3) {
    let r = Math.min(255, Math.max(0, (d[i]! + p.brightness) * pre));
    let g = Math.min(255, Math.max(0, (d[i + 1]! + p.brightness) * pre));
    let b = Math.min(255, Math.max(0, (d[i + 2]! + p.brightness) * pre));
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    const delta = max - min;
    let hDeg = 0;
    if (delta > 0) {
      if (max === r) hDeg = 60 * (((g - b) / delta) % 6);
      else if (max === g) hDeg = 60 * ((b - r) / delta + 2);
      else hDeg = 60 * ((r - g) / delta + 4);
    }
    let s = max === 0 ? 0 : delta / max;
    s = Math.min(1, s * p.saturation);
    hDeg = (((hDeg + hueShift) % 360) + 360) % 360;
    const v = max;
    const c = v * s;
    const x = c * (1 - Math.abs(((hDeg / 60) % 2) - 1));
    const m = v - c;
    const sector = Math.floor(hDeg / 60);
    if (sector === 0) [r, g, b] = [c, x, 0];
    else if (sector === 1) [r, g, b] = [x, c, 0];
    else if (sector === 2) [r, g, b] = [0, c, x];
    else if (sector === 3) [r, g, b] = [0, x, c];
    else if (sector === 4) [r, g, b] = [x, 0, c];
    else [r, g, b] = [c, 0, x];
    d[i] = clamp255((r + m) * post);
    d[i + 1] = clamp255((g + m) * post);
    d[i + 2] = clamp255((b + m) * post);
  }
}

function clamp255(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}

// ---- applying a pipeline --------------------------------------------------------------------

/** Applies `specs` in order, drawing random choices from `rng`. Mutates and returns the sample. */
export function applyTransforms(s: Sample, specs: readonly TransformSpec[], rng: Rng): Sample {
  for (const spec of specs) {
    switch (spec.type) {
      case 'resize': {
        const scale = chooseScale(spec, rng);
        const [w, h] = currentSize(s);
        const [nw, nh] = spec.keepRatio ? keepRatioSize(w, h, scale) : scale;
        resizeSample(s, nw, nh);
        break;
      }
      case 'crop':
        cropSample(s, chooseCrop(s, spec, rng));
        break;
      case 'flip':
        if (rng.chance(spec.prob)) flipSample(s);
        break;
      case 'normalize':
        s.meta.normalize = { mean: [...spec.mean], std: [...spec.std] };
        break;
      case 'pad': {
        s.meta.padDivisor = spec.divisor;
        const [h0, w0] = s.meta.imgShape;
        const h = Math.max(h0, spec.size?.[0] ?? 0);
        const w = Math.max(w0, spec.size?.[1] ?? 0);
        s.meta.padShape = [Math.ceil(h / spec.divisor) * spec.divisor, Math.ceil(w / spec.divisor) * spec.divisor];
        break;
      }
      case 'photometric': {
        if (s.image.kind !== 'lazy') throw new Error('photometric: pixels already rendered');
        const p = drawPhotometric(spec, rng);
        applyPhotometric(s.image.source, p);
        s.meta.photometric = p;
        break;
      }
      default: {
        const never: never = spec;
        throw new Error(`unknown transform ${JSON.stringify(never)}`);
      }
    }
  }
  return s;
}

const lutCache = new Map<string, Float32Array>();

/** The uint8 -> float table for a meta's normalization (identity when none). */
export function lutFor(meta: ImageMeta): Float32Array {
  const key = meta.normalize ? `${meta.normalize.mean.join(',')}/${meta.normalize.std.join(',')}` : 'id';
  let lut = lutCache.get(key);
  if (!lut) {
    lut = normalizeTable(meta.normalize?.mean, meta.normalize?.std);
    lutCache.set(key, lut);
  }
  return lut;
}

/**
 * Renders the sample's pixels as float32 HWC at imgShape (resized, flipped, normalized) into
 * `out` (reused when large enough). Returns the filled view.
 */
export function renderFloat(s: Sample, out?: Float32Array): Float32Array {
  const [h, w] = s.meta.imgShape;
  const n = h * w * 3;
  if (s.image.kind === 'rendered') return s.image.pixels;
  const buf = out && out.length >= n ? out.subarray(0, n) : new Float32Array(n);
  renderInto(s.image.source, w, h, s.image.flip, lutFor(s.meta), buf, 0, w * 3);
  return buf;
}

/** Renders the sample as a viewable uint8 RGB image (resized and flipped, not normalized). */
export function renderRgb(s: Sample): RgbImage {
  const [h, w] = s.meta.imgShape;
  let f: Float32Array;
  if (s.image.kind === 'lazy') {
    f = new Float32Array(h * w * 3);
    renderInto(s.image.source, w, h, s.image.flip, lutFor({ ...s.meta, normalize: undefined }), f, 0, w * 3);
  } else {
    f = s.image.pixels;
    if (s.meta.normalize) {
      const { mean, std } = s.meta.normalize;
      const g = new Float32Array(f.length);
      for (let i = 0; i < f.length; i++) g[i] = f[i]! * std[i % 3]! + mean[i % 3]!;
      f = g;
    }
  }
  const data = new Uint8Array(f.length);
  for (let i = 0; i < f.length; i++) data[i] = clamp255(f[i]!);
  return { data, width: w, height: h };
}

// ---- inverse mapping ------------------------------------------------------------------------

/**
 * Maps a row-major mask (or score map, values kept as uint8) predicted on the transformed image —
 * of size maskW x maskH, at least imgShape (e.g. the padded batch size) — back to the original image:
 * crops the padding, undoes the flip and resizes (nearest) to oriShape.
 */
export function maskToOriginal(mask: Uint8Array, maskW: number, maskH: number, meta: ImageMeta): Uint8Array {
  const [h, w] = meta.imgShape;
  if (maskW < w || maskH < h) throw new Error(`maskToOriginal: mask ${maskW}x${maskH} smaller than image ${w}x${h}`);
  let crop = mask;
  if (maskW !== w || maskH !== h) {
    crop = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) crop.set(mask.subarray(y * maskW, y * maskW + w), y * w);
  }
  const [oh, ow] = meta.oriShape;
  return resizeNearest(crop, w, h, ow, oh, meta.flip);
}
