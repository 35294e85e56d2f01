import { beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tf } from '@partialnet/core';
import { resizeBilinear } from '../src/index.js';

/** PyTorch's upsample_bilinear2d with align_corners=False, in float64, NHWC. */
function torchBilinear(x: Float64Array, n: number, h: number, w: number, c: number, oh: number, ow: number): Float64Array {
  const out = new Float64Array(n * oh * ow * c);
  const src = (dst: number, inSize: number, outSize: number) => {
    const s = Math.max(((dst + 0.5) * inSize) / outSize - 0.5, 0);
    const i0 = Math.min(Math.floor(s), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    return [i0, i1, s - i0] as const;
  };
  for (let b = 0; b < n; b++)
    for (let y = 0; y < oh; y++) {
      const [y0, y1, ly] = src(y, h, oh);
      for (let xx = 0; xx < ow; xx++) {
        const [x0, x1, lx] = src(xx, w, ow);
        for (let ch = 0; ch < c; ch++) {
          const at = (yy: number, xq: number) => x[((b * h + yy) * w + xq) * c + ch]!;
          out[((b * oh + y) * ow + xx) * c + ch] = (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) + ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1));
        }
      }
    }
  return out;
}

describe('resizeBilinear = PyTorch interpolate(bilinear, align_corners=False)', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });
  for (const [h, w, oh, ow, what] of [
    [4, 6, 8, 12, '2x up (the FPN head stages)'],
    [5, 7, 13, 17, 'non-integer up (stride-4 logits to an odd input)'],
    [13, 17, 5, 7, 'down (multi-scale test)'],
    [8, 8, 8, 8, 'same size (identity)'],
  ] as const) {
    it(`${what}: ${h}x${w} -> ${oh}x${ow} within 1e-5 of a float64 reference`, async () => {
      const n = 2;
      const c = 3;
      const host = Float64Array.from({ length: n * h * w * c }, (_, i) => Math.sin(i * 0.37) * 3 + (i % 5));
      const before = tf.memory().numTensors;
      const x = tf.tensor4d(Float32Array.from(host), [n, h, w, c]);
      const y = resizeBilinear(x, [oh, ow]);
      expect(y.shape).toEqual([n, oh, ow, c]);
      const got = await y.data();
      const ref = torchBilinear(host, n, h, w, c, oh, ow);
      let err = 0;
      for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(got[i]! - ref[i]!));
      expect(err).toBeLessThan(1e-5);
      tf.dispose([x, y]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
