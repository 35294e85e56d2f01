import { describe, expect, it } from 'vitest';
import { AnchorGenerator } from '../src/ops.js';
import { maskRcnnFpn1x, retinanetFpn1x } from '../src/index.js';

const close = (a: ArrayLike<number>, b: number[], tol = 1e-3) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < b.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(tol);
};

describe('AnchorGenerator', () => {
  const retina = new AnchorGenerator(retinanetFpn1x().head.anchor);
  const rpn = new AnchorGenerator(maskRcnnFpn1x().rpn.anchor);

  it('RetinaNet: octave scales 4 * 2^(i/3), 9 anchors per cell, ratios outer', () => {
    expect(retina.scales.map((s) => +s.toFixed(4))).toEqual([4, 5.0397, 6.3496]);
    expect(retina.numBaseAnchors).toBe(9);
    const base = retina.baseAnchors(0);
    // mmdet: w = base * scale / sqrt(ratio), h = base * scale * sqrt(ratio), centre 0.
    const expected: number[] = [];
    for (const r of [0.5, 1, 2]) {
      for (const s of retina.scales) {
        const w = (8 * s) / Math.sqrt(r);
        const h = 8 * s * Math.sqrt(r);
        expected.push(-w / 2, -h / 2, w / 2, h / 2);
      }
    }
    close(base, expected);
    close(base.subarray(0, 4), [-22.6274, -11.3137, 22.6274, 11.3137]);
  });

  it('RPN: scale 8, ratios 0.5 / 1 / 2 on strides 4..64', () => {
    close(rpn.baseAnchors(0), [-22.6274, -11.3137, 22.6274, 11.3137, -16, -16, 16, 16, -11.3137, -22.6274, 11.3137, 22.6274]);
    close(rpn.baseAnchors(4).subarray(4, 8), [-256, -256, 256, 256]);
  });

  it('counts and (y, x, anchor) order over the grid', () => {
    const sizes: [number, number][] = [16, 8, 4, 2, 1].map((s) => [s, s]);
    expect(retina.allAnchors(sizes).length / 4).toBe(9 * (256 + 64 + 16 + 4 + 1));
    const g = rpn.gridAnchors(1, 3, 5);
    expect(g.length / 4).toBe(3 * 5 * 3);
    const base = rpn.baseAnchors(1);
    const y = 2;
    const x = 3;
    const a = 2;
    const i = (y * 5 + x) * 3 + a;
    close(g.subarray(4 * i, 4 * i + 4), [base[4 * a]! + 8 * x, base[4 * a + 1]! + 8 * y, base[4 * a + 2]! + 8 * x, base[4 * a + 3]! + 8 * y]);
  });

  it('valid flags follow ceil(valid size / stride) per level', () => {
    const flags = rpn.validFlags([[4, 4], [2, 2]], [10, 16]);
    // Level 0 (stride 4): rows < ceil(10 / 4) = 3, all 4 columns; level 1 (stride 8): rows < 2, cols < 2.
    const cell = (l: number, y: number, x: number) => flags[(l === 0 ? 0 : 16 * 3) + (y * (l === 0 ? 4 : 2) + x) * 3]!;
    expect(cell(0, 2, 3)).toBe(1);
    expect(cell(0, 3, 0)).toBe(0);
    expect(cell(1, 1, 1)).toBe(1);
    expect(flags.length).toBe((16 + 4) * 3);
  });
});
