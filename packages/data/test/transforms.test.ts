import { describe, expect, it } from 'vitest';
import { Rng } from '@partialnet/core';
import { applyTransforms, collate, flipSample, keepRatioSize, renderFloat, renderInto, renderRgb, resizeSample, normalizeTable, makeSample, resizeNearest, applyPhotometric } from '../src/internals.js';
import { boxesToOriginal, maskToOriginal, normalize, pad, photometricDistortion, randomFlip, resize, trainPipeline, IMAGENET_MEAN, IMAGENET_STD } from '../src/index.js';
import { instanceBitmap } from '../src/masks.js';
import { renderIntoScalar } from '../src/kernels.js';
import { cloneSample, iou, richSample, testImage } from './helpers.js';

/**
 * renderInto's exact arithmetic, written plainly: each source sample mapped through the float32
 * table, horizontal interpolation rounded to float32, then vertical interpolation in float64
 * rounded to float32 on store. Results must match this bit for bit (the WebAssembly loops and the
 * JS fallback alike), so batches never depend on the machine or the number of workers.
 */
function exactRender(src: ReturnType<typeof testImage>, dw: number, dh: number, flip: boolean, lut: Float32Array): Float32Array {
  const axis = (s: number, d: number, x: number): [number, number, number] => {
    let f = (x + 0.5) * (s / d) - 0.5;
    if (f < 0) f = 0;
    let i = Math.floor(f);
    if (i >= s - 1) {
      i = s - 1;
      f = i;
    }
    return [i, Math.min(i + 1, s - 1), Math.fround(f - i)];
  };
  const L = (x: number, y: number, c: number) => lut[c * 256 + src.data[(y * src.width + x) * 3 + c]!]!;
  const out = new Float32Array(dw * dh * 3);
  for (let y = 0; y < dh; y++) {
    const [y0, y1, wy] = axis(src.height, dh, y);
    for (let x = 0; x < dw; x++) {
      const [x0, x1, wx] = axis(src.width, dw, x);
      const ox = flip ? dw - 1 - x : x;
      for (let c = 0; c < 3; c++) {
        const top = Math.fround(L(x0, y0, c) + (L(x1, y0, c) - L(x0, y0, c)) * wx);
        const bot = Math.fround(L(x0, y1, c) + (L(x1, y1, c) - L(x0, y1, c)) * wx);
        out[(y * dw + ox) * 3 + c] = wy === 0 || y1 === y0 ? top : top + (bot - top) * wy;
      }
    }
  }
  return out;
}

/** Straightforward bilinear (half-pixel centres, clamped) for reference. */
function refBilinear(src: ReturnType<typeof testImage>, dw: number, dh: number, flip: boolean): Float32Array {
  const out = new Float32Array(dw * dh * 3);
  const sample = (x: number, y: number, c: number) => src.data[(y * src.width + x) * 3 + c]!;
  for (let y = 0; y < dh; y++) {
    let fy = Math.max(0, (y + 0.5) * (src.height / dh) - 0.5);
    let y0 = Math.floor(fy);
    if (y0 >= src.height - 1) { y0 = src.height - 1; fy = y0; }
    const y1 = Math.min(y0 + 1, src.height - 1);
    const wy = fy - y0;
    for (let x = 0; x < dw; x++) {
      let fx = Math.max(0, (x + 0.5) * (src.width / dw) - 0.5);
      let x0 = Math.floor(fx);
      if (x0 >= src.width - 1) { x0 = src.width - 1; fx = x0; }
      const x1 = Math.min(x0 + 1, src.width - 1);
      const wx = fx - x0;
      const ox = flip ? dw - 1 - x : x;
      for (let c = 0; c < 3; c++) {
        const top = sample(x0, y0, c) * (1 - wx) + sample(x1, y0, c) * wx;
        const bot = sample(x0, y1, c) * (1 - wx) + sample(x1, y1, c) * wx;
        out[(y * dw + ox) * 3 + c] = top * (1 - wy) + bot * wy;
      }
    }
  }
  return out;
}

describe('pixel kernels', () => {
  it('renderInto matches a reference bilinear resize, with and without flip, up and down', () => {
    const src = testImage(37, 23);
    for (const [dw, dh] of [[61, 40], [20, 11], [37, 23]] as const) {
      for (const flip of [false, true]) {
        const out = new Float32Array(dw * dh * 3);
        renderInto(src, dw, dh, flip, normalizeTable(), out, 0, dw * 3);
        const ref = refBilinear(src, dw, dh, flip);
        let maxErr = 0;
        for (let i = 0; i < out.length; i++) maxErr = Math.max(maxErr, Math.abs(out[i]! - ref[i]!));
        expect(maxErr).toBeLessThan(1e-3);
      }
    }
  });

  it('renderInto is bit-identical to the plain formula (WebAssembly and JS loops, offsets, strides)', () => {
    const lut = normalizeTable(IMAGENET_MEAN, IMAGENET_STD);
    const cases = [[37, 23, 61, 40], [37, 23, 20, 11], [37, 23, 37, 23], [5, 4, 3, 1], [1, 1, 4, 3], [64, 48, 107, 80], [30, 2, 22000, 2]] as const;
    for (const [sw, sh, dw, dh] of cases) {
      const src = testImage(sw, sh);
      for (const flip of [false, true]) {
        const ref = exactRender(src, dw, dh, flip, lut);
        const stride = dw * 3 + 5;
        for (const render of [renderInto, renderIntoScalar]) {
          const out = new Float32Array(3 + dh * stride).fill(7);
          render(src, dw, dh, flip, lut, out, 3, stride);
          let bad = 0;
          for (let y = 0; y < dh; y++) {
            for (let k = 0; k < dw * 3; k++) if (!Object.is(out[3 + y * stride + k], ref[y * dw * 3 + k])) bad++;
            for (let k = dw * 3; k < stride && 3 + y * stride + k < out.length; k++) if (out[3 + y * stride + k] !== 7) bad++;
          }
          expect(bad, `${render.name} ${sw}x${sh} -> ${dw}x${dh} flip=${flip}`).toBe(0);
        }
      }
    }
  });

  it('normalizes with the per-channel table and respects offset and row stride', () => {
    const src = testImage(8, 6);
    const stride = 10 * 3;
    const out = new Float32Array(2 + 6 * stride).fill(99);
    renderInto(src, 8, 6, false, normalizeTable(IMAGENET_MEAN, IMAGENET_STD), out, 2, stride);
    expect(out[0]).toBe(99); // before offset untouched
    expect(out[2 + 8 * 3]).toBe(99); // row padding untouched
    for (const [x, y, c] of [[0, 0, 0], [7, 5, 2], [3, 2, 1]] as const) {
      const v = src.data[(y * 8 + x) * 3 + c]!;
      expect(out[2 + y * stride + x * 3 + c]).toBeCloseTo((v - IMAGENET_MEAN[c]) / IMAGENET_STD[c], 5);
    }
  });

  it('nearest resize only produces source values', () => {
    const src = Uint8Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 255 : i % 5));
    const out = resizeNearest(src, 6, 5, 17, 9);
    const allowed = new Set(src);
    for (const v of out) expect(allowed.has(v)).toBe(true);
  });
});

describe('Resize', () => {
  it('keeps the aspect ratio within (long, short) like mmcv', () => {
    expect(keepRatioSize(640, 480, [1333, 800])).toEqual([1067, 800]);
    expect(keepRatioSize(480, 640, [1333, 800])).toEqual([800, 1067]);
    expect(keepRatioSize(2000, 500, [1333, 800])).toEqual([1333, 333]);
    expect(keepRatioSize(640, 480, [800, 1333])).toEqual([1067, 800]);
  });

  it('moves boxes, masks and label maps with the pixels and records the scale', () => {
    const s = richSample(64, 48);
    applyTransforms(s, [resize([128, 96])], new Rng(1));
    expect(s.meta.imgShape).toEqual([96, 128]);
    expect(s.meta.scaleFactor).toEqual([2, 2]);
    expect(Array.from(s.targets.boxes)).toEqual([10, 20, 50, 60, 60, 8, 120, 80]);
    expect(Array.from(s.targets.ignoreBoxes)).toEqual([2, 2, 20, 16]);
    const poly = s.targets.masks![0]!;
    expect(poly.kind === 'polygons' && poly.polygons[0]).toEqual([10, 20, 50, 20, 50, 60, 10, 60]);
    const bm = s.targets.masks![1]!;
    expect(bm.kind === 'bitmap' && [bm.width, bm.height]).toEqual([128, 96]);
    // The bitmap's extent is exactly twice the original rectangle (30..60 x 4..40).
    const bits = instanceBitmap(bm, 96, 128);
    let sum = 0;
    for (const v of bits) sum += v;
    expect(sum).toBe(60 * 72);
    expect(s.targets.semantic!.width).toBe(128);
    expect(s.targets.semantic!.data[(20 + 5) * 128 + 10 + 5]).toBe(3);
  });

  it('resize then inverse mapping recovers boxes within 1 px, for many scales and flips', () => {
    const rng = new Rng(5);
    for (let trial = 0; trial < 50; trial++) {
      const w = rng.intInclusive(40, 700);
      const h = rng.intInclusive(40, 700);
      const boxes: number[] = [];
      for (let i = 0; i < 5; i++) {
        const x1 = rng.uniform(0, w - 2);
        const y1 = rng.uniform(0, h - 2);
        boxes.push(x1, y1, rng.uniform(x1 + 1, w), rng.uniform(y1 + 1, h));
      }
      const s = makeSample({ index: 0, imageId: trial, file: 'x' }, { data: new Uint8Array(w * h * 3), width: w, height: h }, {
        boxes: Float32Array.from(boxes),
        labels: new Int32Array(5),
        ignoreBoxes: new Float32Array(0),
      });
      const pipe = [resize([[1333, 800], [640, 480], [320, 200]], { multiscaleMode: 'choice' }), randomFlip(0.5), pad(32)];
      applyTransforms(s, pipe, new Rng(trial));
      const back = boxesToOriginal(s.targets.boxes, s.meta);
      for (let i = 0; i < boxes.length; i++) expect(Math.abs(back[i]! - boxes[i]!)).toBeLessThanOrEqual(1);
    }
  });

  it("'range' mode draws scales between the two bounds", () => {
    const seen = new Set<number>();
    for (let i = 0; i < 30; i++) {
      const s = richSample(100, 50);
      applyTransforms(s, [resize([[1333, 640], [1333, 800]], { multiscaleMode: 'range' })], new Rng(i));
      const short = s.meta.imgShape[0];
      expect(short).toBeGreaterThanOrEqual(640);
      expect(short).toBeLessThanOrEqual(800);
      seen.add(short);
    }
    expect(seen.size).toBeGreaterThan(5);
  });

  it('maps a resized mask back to the original size', () => {
    const s = richSample(64, 48);
    const original = instanceBitmap(s.targets.masks![1]!, 48, 64);
    applyTransforms(s, [resize([100, 75]), randomFlip(1), pad(32)], new Rng(0));
    const [ph, pw] = s.meta.padShape;
    expect(ph % 32).toBe(0);
    const padded = instanceBitmap(s.targets.masks![1]!, ph, pw);
    const back = maskToOriginal(padded, pw, ph, s.meta);
    expect(iou(back, original)).toBeGreaterThan(0.95);
  });
});

describe('RandomFlip', () => {
  it('flipping twice is the identity on boxes, masks, label maps and pixels', () => {
    const s = richSample(64, 48);
    const before = cloneSample(s);
    const once = cloneSample(s);
    flipSample(once);
    expect(Array.from(once.targets.boxes)).not.toEqual(Array.from(before.targets.boxes));
    expect(Array.from(once.targets.boxes.subarray(0, 4))).toEqual([64 - 25, 10, 64 - 5, 30]);
    flipSample(s);
    flipSample(s);
    expect(s.meta.flip).toBe(false);
    expect(Array.from(s.targets.boxes)).toEqual(Array.from(before.targets.boxes));
    expect(Array.from(s.targets.ignoreBoxes)).toEqual(Array.from(before.targets.ignoreBoxes));
    expect(s.targets.masks).toEqual(before.targets.masks);
    expect(Array.from(s.targets.semantic!.data)).toEqual(Array.from(before.targets.semantic!.data));
    expect(Array.from(renderFloat(s))).toEqual(Array.from(renderFloat(before)));
  });

  it('flips pixels, polygon and bitmap masks consistently', () => {
    const s = richSample(64, 48);
    const img0 = renderRgb(s);
    flipSample(s);
    const img1 = renderRgb(s);
    for (const [x, y] of [[0, 0], [10, 20], [63, 47]] as const) {
      for (let c = 0; c < 3; c++) expect(img1.data[(y * 64 + (63 - x)) * 3 + c]).toBe(img0.data[(y * 64 + x) * 3 + c]);
    }
    // Polygon (rasterized) and box agree after flipping.
    const poly = instanceBitmap(s.targets.masks![0]!, 48, 64);
    let minX = 64, maxX = -1;
    poly.forEach((v, i) => {
      if (!v) return;
      minX = Math.min(minX, i % 64);
      maxX = Math.max(maxX, i % 64);
    });
    expect(minX).toBe(s.targets.boxes[0]);
    expect(maxX + 1).toBe(s.targets.boxes[2]);
  });

  it('prob 0 never flips, prob 1 always does', () => {
    for (let i = 0; i < 10; i++) {
      const a = applyTransforms(richSample(), [randomFlip(0)], new Rng(i));
      const b = applyTransforms(richSample(), [randomFlip(1)], new Rng(i));
      expect(a.meta.flip).toBe(false);
      expect(b.meta.flip).toBe(true);
    }
  });
});

describe('Normalize, Pad and collate', () => {
  it('pads to the divisor with zeros and normalizes', () => {
    const a = applyTransforms(richSample(64, 48), [resize([70, 50]), normalize(), pad(32)], new Rng(0));
    const b = applyTransforms(richSample(48, 64), [resize([70, 50]), normalize(), pad(32)], new Rng(0));
    expect(a.meta.imgShape).toEqual([50, 67]);
    expect(a.meta.padShape).toEqual([64, 96]);
    const batch = collate([a, b]);
    const [n, H, W, C] = batch.shape;
    expect([n, H % 32, W % 32, C]).toEqual([2, 0, 0, 3]);
    expect(H).toBeGreaterThanOrEqual(70);
    // Padding of image 0 (right of its width, below its height) is zero.
    const per = H * W * 3;
    expect(batch.images[(10 * W + 67) * 3]).toBe(0);
    expect(batch.images[(60 * W + 5) * 3 + 1]).toBe(0);
    // Inside: equals the image rendered on its own.
    const own = renderFloat(a);
    expect(batch.images[(10 * W + 20) * 3 + 2]).toBeCloseTo(own[(10 * 67 + 20) * 3 + 2]!, 6);
    expect(batch.images[per + 0]).toBeCloseTo(renderFloat(b)[0]!, 6);
    // Semantic labels padded with 255.
    expect(batch.semantic![H * W - 1]).toBe(255);
    expect(batch.semantic![(10 + 5) * W + 10]).toBe(3);
  });

  it('reuses an output buffer and clears stale padding', () => {
    const s = () => applyTransforms(richSample(64, 48), [normalize(), pad(32)], new Rng(0));
    const out = new Float32Array(2 * 64 * 64 * 3).fill(7);
    const batch = collate([s(), s()], { out });
    expect(batch.images.buffer).toBe(out.buffer);
    expect(batch.images[(50 * 64 + 3) * 3]).toBe(0);
  });
});

describe('PhotometricDistortion', () => {
  it('is deterministic from the seed, changes pixels, and leaves targets alone', () => {
    const run = (seed: number) => {
      const s = applyTransforms(richSample(), [photometricDistortion()], new Rng(seed));
      return { px: Array.from(renderRgb(s).data), p: s.meta.photometric!, boxes: Array.from(s.targets.boxes) };
    };
    const a = run(3);
    const b = run(3);
    expect(a).toEqual(b);
    const base = Array.from(renderRgb(richSample()).data);
    let changed = 0;
    for (let seed = 0; seed < 8; seed++) if (run(seed).px.some((v, i) => v !== base[i])) changed++;
    expect(changed).toBeGreaterThan(4);
    expect(a.boxes).toEqual(Array.from(richSample().targets.boxes));
  });

  it('identity parameters leave the image unchanged; brightness shifts it', () => {
    const img = testImage(10, 10);
    const copy = { ...img, data: Uint8Array.from(img.data) };
    applyPhotometric(copy, { brightness: 0, contrast: 1, contrastFirst: true, saturation: 1, hue: 0 });
    expect(Array.from(copy.data)).toEqual(Array.from(img.data));
    applyPhotometric(copy, { brightness: 10, contrast: 1, contrastFirst: true, saturation: 1, hue: 0 });
    expect(copy.data[3 * 5 + 2]).toBe(Math.min(255, img.data[3 * 5 + 2]! + 10));
    const hsv = { ...img, data: Uint8Array.from(img.data) };
    applyPhotometric(hsv, { brightness: 0, contrast: 1, contrastFirst: true, saturation: 1, hue: 0.0001 });
    let maxDiff = 0;
    hsv.data.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - img.data[i]!))));
    expect(maxDiff).toBeLessThanOrEqual(1); // HSV round trip is exact up to rounding
  });
});

describe('train pipeline', () => {
  it('records everything needed for inverse mapping', () => {
    const s = applyTransforms(richSample(64, 48), trainPipeline({ scale: [133, 80], flipProb: 1 }), new Rng(2));
    expect(s.meta.oriShape).toEqual([48, 64]);
    expect(s.meta.imgShape).toEqual([80, 107]);
    expect(s.meta.flip).toBe(true);
    expect(s.meta.normalize?.mean).toEqual(IMAGENET_MEAN);
    expect(s.meta.padShape).toEqual([96, 128]);
    const back = boxesToOriginal(s.targets.boxes, s.meta);
    expect(Math.abs(back[0]! - 5)).toBeLessThan(1);
    expect(Math.abs(back[2]! - 25)).toBeLessThan(1);
  });

  it('resizeSample rejects already-rendered pixels', () => {
    const s = richSample();
    s.image = { kind: 'rendered', pixels: renderFloat(s), width: 64, height: 48 };
    expect(() => resizeSample(s, 10, 10)).toThrow(/already rendered/);
  });
});
