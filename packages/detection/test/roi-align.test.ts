import { beforeAll, describe, expect, it } from 'vitest';
import { listBackends, setupBackend, tf } from '@partialnet/core';
import { mapRoiLevels, multiLevelRoiAlign, roiAlignBackwardHost, roiAlignForwardHost, type RoiAlignOptions } from '../src/ops.js';

/** mmcv's roi_align_forward, sample by sample (no separability), as the reference. */
function reference(f: Float32Array, [, H, W, C]: number[], rois: number[], o: RoiAlignOptions): Float32Array {
  const K = rois.length / 5;
  const out = new Float32Array(K * o.outH * o.outW * C);
  const bilinear = (b: number, y: number, x: number, c: number): number => {
    if (y < -1 || y > H || x < -1 || x > W) return 0;
    if (y <= 0) y = 0;
    if (x <= 0) x = 0;
    let y0 = Math.floor(y);
    let x0 = Math.floor(x);
    let y1: number;
    let x1: number;
    if (y0 >= H - 1) {
      y1 = y0 = H - 1;
      y = y0;
    } else y1 = y0 + 1;
    if (x0 >= W - 1) {
      x1 = x0 = W - 1;
      x = x0;
    } else x1 = x0 + 1;
    const ly = y - y0;
    const lx = x - x0;
    const v = (yy: number, xx: number) => f[((b * H + yy) * W + xx) * C + c]!;
    return (1 - ly) * (1 - lx) * v(y0, x0) + (1 - ly) * lx * v(y0, x1) + ly * (1 - lx) * v(y1, x0) + ly * lx * v(y1, x1);
  };
  for (let k = 0; k < K; k++) {
    const [b, ...box] = rois.slice(5 * k, 5 * k + 5) as [number, number, number, number, number];
    const off = o.aligned === false ? 0 : 0.5;
    const sx = box[0] * o.spatialScale - off;
    const sy = box[1] * o.spatialScale - off;
    const rw = box[2] * o.spatialScale - off - sx;
    const rh = box[3] * o.spatialScale - off - sy;
    const bh = rh / o.outH;
    const bw = rw / o.outW;
    const gh = o.samplingRatio ? o.samplingRatio : Math.ceil(rh / o.outH);
    const gw = o.samplingRatio ? o.samplingRatio : Math.ceil(rw / o.outW);
    const count = Math.max(gh * gw, 1);
    for (let py = 0; py < o.outH; py++) {
      for (let px = 0; px < o.outW; px++) {
        for (let c = 0; c < C; c++) {
          let sum = 0;
          for (let iy = 0; iy < gh; iy++) {
            const y = sy + py * bh + ((iy + 0.5) * bh) / gh;
            for (let ix = 0; ix < gw; ix++) sum += bilinear(b, y, sx + px * bw + ((ix + 0.5) * bw) / gw, c);
          }
          out[((k * o.outH + py) * o.outW + px) * C + c] = sum / count;
        }
      }
    }
  }
  return out;
}

function randomData(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  });
}

// Inside, across the border, tiny, huge, degenerate, and in the second image.
const ROIS = [0, 3.2, 4.1, 17.9, 12.5, 1, -6, -3, 9, 30, 0, 20, 20, 21, 20.5, 1, 0, 0, 80, 64, 0, 5, 5, 5, 5, 1, 30.7, 1.2, 31.9, 31.9];

describe('RoIAlign (host kernel)', () => {
  const shape: [number, number, number, number] = [2, 8, 9, 3];
  const f = randomData(2 * 8 * 9 * 3, 7);
  for (const samplingRatio of [0, 2]) {
    for (const [outH, outW] of [[7, 7], [2, 3]] as const) {
      it(`forward matches direct bilinear sampling (sampling ${samplingRatio}, ${outH}x${outW})`, () => {
        const o = { outH, outW, spatialScale: 0.25, samplingRatio, aligned: true };
        const got = roiAlignForwardHost(f, shape, ROIS, o);
        const want = reference(f, shape, ROIS, o);
        for (let i = 0; i < want.length; i++) expect(got[i]!).toBeCloseTo(want[i]!, 5);
      });
    }
  }

  it('backward is the adjoint of forward: <A f, g> == <f, A^T g>', () => {
    const o = { outH: 4, outW: 5, spatialScale: 0.25, samplingRatio: 0, aligned: true };
    const g = randomData(6 * 4 * 5 * 3, 11);
    const af = roiAlignForwardHost(f, shape, ROIS, o);
    const atg = roiAlignBackwardHost(g, shape, ROIS, o);
    let lhs = 0;
    let rhs = 0;
    for (let i = 0; i < af.length; i++) lhs += af[i]! * g[i]!;
    for (let i = 0; i < f.length; i++) rhs += f[i]! * atg[i]!;
    expect(lhs).toBeCloseTo(rhs, 4);
  });

  it('maps rois to levels by scale (finest scale 56)', () => {
    const box = (s: number) => [0, 0, 0, s, s];
    const rois = [...box(50), ...box(111.9), ...box(112), ...box(224), ...box(448), ...box(2000)];
    expect(Array.from(mapRoiLevels(rois, 4))).toEqual([0, 0, 1, 2, 3, 3]);
  });
});

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`multiLevelRoiAlign on ${backend}`, () => {
    beforeAll(async () => {
      await setupBackend(backend);
      expect(tf.getBackend()).toBe(backend);
    });

    it('pools each roi from its level and its gradient matches numeric differentiation', () => {
      const before = tf.memory().numTensors;
      const shapes: [number, number, number, number][] = [[2, 16, 16, 2], [2, 8, 8, 2]];
      const data = shapes.map((s, l) => randomData(s.reduce((a, b) => a * b), 3 + l));
      // Two small rois (level 0, stride 4) and two large (level 1, stride 8).
      const rois = Float32Array.from([0, 4, 6, 40, 30, 1, 10, 3, 60, 50, 0, 2, 2, 130, 120, 1, 40, 20, 150, 164]);
      expect(Array.from(mapRoiLevels(rois, 2))).toEqual([0, 0, 1, 1]);
      const S = 3;
      const weights = randomData(4 * S * S * 2, 99);
      const opts = { outSize: S, strides: [4, 8] };
      const feats = shapes.map((s, l) => tf.tensor4d(data[l]!, s));
      const w = tf.tensor4d(weights, [4, S, S, 2]);
      const loss = (...fs: tf.Tensor[]) => tf.sum(tf.mul(multiLevelRoiAlign(fs as tf.Tensor4D[], rois, opts), w)) as tf.Scalar;
      const grads = tf.grads(loss)(feats);
      const value = tf.tidy(() => loss(...feats));
      // Host loss for numeric differentiation (RoIAlign is linear in the features: central
      // differences are exact up to rounding).
      const hostLoss = (ds: Float32Array[]): number => {
        let sum = 0;
        const levels = mapRoiLevels(rois, 2);
        for (let k = 0; k < 4; k++) {
          const l = levels[k]!;
          const out = roiAlignForwardHost(ds[l]!, shapes[l]!, rois.subarray(5 * k, 5 * k + 5), { outH: S, outW: S, spatialScale: 1 / opts.strides[l]!, samplingRatio: 0, aligned: true });
          for (let i = 0; i < out.length; i++) sum += out[i]! * weights[k * S * S * 2 + i]!;
        }
        return sum;
      };
      expect(value.dataSync()[0]!).toBeCloseTo(hostLoss(data), 4);
      const eps = 0.5;
      let checked = 0;
      for (let l = 0; l < 2; l++) {
        const g = grads[l]!.dataSync();
        for (let i = 0; i < data[l]!.length; i += 3) {
          const plus = data.map((d) => d.slice());
          const minus = data.map((d) => d.slice());
          plus[l]![i]! += eps;
          minus[l]![i]! -= eps;
          const numeric = (hostLoss(plus) - hostLoss(minus)) / (2 * eps);
          expect(g[i]!).toBeCloseTo(numeric, 4);
          if (numeric !== 0) checked++;
        }
      }
      expect(checked).toBeGreaterThan(50);
      tf.dispose([feats, w, grads, value]);
      expect(tf.memory().numTensors).toBe(before);
    });

    it('handles no rois and leaks nothing outside gradients', () => {
      const before = tf.memory().numTensors;
      const f = tf.ones([1, 8, 8, 4]) as tf.Tensor4D;
      const empty = multiLevelRoiAlign([f], new Float32Array(0), { outSize: 7, strides: [4] });
      expect(empty.shape).toEqual([0, 7, 7, 4]);
      const ones = multiLevelRoiAlign([f], Float32Array.from([0, 0, 0, 32, 32]), { outSize: 7, strides: [4] });
      expect(Math.min(...ones.dataSync())).toBeCloseTo(1, 5);
      tf.dispose([f, empty, ones]);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
}

// The device implementation against the host kernel it replaced, at Mask R-CNN-like settings:
// four levels, two images, rois crossing the borders, adaptive sampling, 7x7 and 14x14 bins.
// Same sums in another order (float32 on the device, float64 accumulation on the host): 1e-5 of
// the values' scale.
const DEVICE_TOLERANCE = 1e-5;
const webgpu = (await listBackends()).find((p) => p.name === 'webgpu')!;
for (const backend of ['cpu', 'wasm', 'webgpu'] as const) {
  const skip = backend === 'webgpu' && !webgpu.available;
  describe.skipIf(skip)(skip ? `WebGPU suite skipped: ${webgpu.reason}` : `device RoIAlign equals the host kernel on ${backend}`, () => {
    beforeAll(async () => {
      await setupBackend(backend);
    });
    for (const [S, chunkBytes] of [[7, undefined], [14, undefined], [7, 20_000]] as const) {
      it(`forward and gradient within ${DEVICE_TOLERANCE} (${S}x${S} bins${chunkBytes ? ', rois in many small chunks' : ''})`, async () => {
        const before = tf.memory().numTensors;
        const strides = [4, 8, 16, 32];
        const C = 8;
        const shapes = strides.map((s) => [2, 256 / s, 192 / s, C] as [number, number, number, number]);
        const data = shapes.map((s, l) => randomData(s.reduce((a, b) => a * b), 11 + l));
        const rois: number[] = [];
        let seed = 5;
        const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
        for (let k = 0; k < 40; k++) {
          const w = 4 + rnd() * 220;
          const h = 4 + rnd() * 250;
          const x1 = -10 + rnd() * 190;
          const y1 = -10 + rnd() * 250;
          rois.push(k % 2, x1, y1, x1 + w, y1 + h);
        }
        const r = Float32Array.from(rois);
        const levels = mapRoiLevels(r, 4);
        expect(new Set(levels).size).toBeGreaterThanOrEqual(3);
        const feats = shapes.map((s, l) => tf.tensor4d(data[l]!, s));
        const dyData = randomData(40 * S * S * C, 21);
        const dy = tf.tensor4d(dyData, [40, S, S, C]);
        const opts = { outSize: S, strides, ...(chunkBytes ? { chunkBytes } : {}) };
        const pooled = multiLevelRoiAlign(feats, r, opts);
        // The zero terms keep every level connected when no roi maps to it (tf.grads insists).
        const grads = tf.grads((...fs: tf.Tensor[]) => tf.addN([tf.sum(tf.mul(multiLevelRoiAlign(fs as tf.Tensor4D[], r, opts), dy)), ...fs.map((f) => tf.mul(tf.sum(f), 0))]))(feats);
        const got = (await pooled.data()) as Float32Array;
        const gotGrads = await Promise.all(grads.map((g) => g.data() as Promise<Float32Array>));
        tf.dispose([feats, dy, pooled, grads]);
        expect(tf.memory().numTensors).toBe(before);
        const bin = S * S * C;
        let maxDiff = 0;
        let scale = 0;
        const refGrads = shapes.map((s) => new Float32Array(s.reduce((a, b) => a * b)));
        for (let k = 0; k < 40; k++) {
          const l = levels[k]!;
          const o = { outH: S, outW: S, spatialScale: 1 / strides[l]!, samplingRatio: 0, aligned: true };
          const roi = r.subarray(5 * k, 5 * k + 5);
          const ref = roiAlignForwardHost(data[l]!, shapes[l]!, roi, o);
          for (let i = 0; i < bin; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(ref[i]! - got[k * bin + i]!));
            scale = Math.max(scale, Math.abs(ref[i]!));
          }
          roiAlignBackwardHost(dyData.subarray(k * bin, (k + 1) * bin), shapes[l]!, roi, o, refGrads[l]!);
        }
        expect(scale).toBeGreaterThan(0.1);
        expect(maxDiff, `forward: ${maxDiff} vs scale ${scale}`).toBeLessThanOrEqual(DEVICE_TOLERANCE * scale);
        let gDiff = 0;
        let gScale = 0;
        refGrads.forEach((g, l) => {
          for (let i = 0; i < g.length; i++) {
            gDiff = Math.max(gDiff, Math.abs(g[i]! - gotGrads[l]![i]!));
            gScale = Math.max(gScale, Math.abs(g[i]!));
          }
        });
        expect(gScale).toBeGreaterThan(0.1);
        expect(gDiff, `gradient: ${gDiff} vs scale ${gScale}`).toBeLessThanOrEqual(DEVICE_TOLERANCE * gScale);
      });
    }
  });
}
