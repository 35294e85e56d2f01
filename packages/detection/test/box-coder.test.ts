import { describe, expect, it } from 'vitest';
import { DeltaXYWHCoder } from '../src/ops.js';

describe('DeltaXYWHCoder', () => {
  it('encodes known values with means and stds', () => {
    const coder = new DeltaXYWHCoder({ stds: [0.1, 0.1, 0.2, 0.2] });
    const d = coder.encode([0, 0, 10, 10], [5, 5, 15, 25]);
    // dx = 5 / 10, dy = 10 / 10, dw = log 1, dh = log 2, then divided by the stds.
    expect(Array.from(d).map((v) => +v.toFixed(4))).toEqual([5, 10, 0, +(Math.log(2) / 0.2).toFixed(4)]);
  });

  it('round trips encode -> decode', () => {
    for (const coder of [new DeltaXYWHCoder(), new DeltaXYWHCoder({ means: [0.1, -0.1, 0, 0.05], stds: [0.1, 0.1, 0.2, 0.2] })]) {
      const props = Float32Array.from([0, 0, 10, 10, 20.5, 30, 80, 44, 3, 7, 5, 100]);
      const gts = Float32Array.from([2, 1, 13, 9, 10, 25, 90, 60, 1, 1, 30, 90]);
      const back = coder.decode(props, coder.encode(props, gts));
      for (let i = 0; i < gts.length; i++) expect(back[i]!).toBeCloseTo(gts[i]!, 3);
    }
  });

  it('clamps dw / dh to |log(16 / 1000)| and clips to the image', () => {
    const coder = new DeltaXYWHCoder();
    const b = coder.decode([0, 0, 10, 10], [0, 0, 100, 0]);
    expect(b[2]! - b[0]!).toBeCloseTo(10 * (1000 / 16), 2);
    const clipped = coder.decode([0, 0, 10, 10], [0, 0, 100, 100], [40, 50]);
    expect(Array.from(clipped)).toEqual([0, 0, 50, 40]);
  });

  it('decodes class-specific deltas against one roi each', () => {
    const coder = new DeltaXYWHCoder();
    const out = coder.decode([0, 0, 10, 10, 10, 10, 20, 20], [0, 0, 0, 0, 0.1, 0, 0, 0, 0, 0, 0, 0, 0, 0.2, 0, 0], undefined, 2);
    expect(Array.from(out.subarray(4, 8))).toEqual([1, 0, 11, 10]);
    expect(Array.from(out.subarray(12, 16)).map((v) => +v.toFixed(4))).toEqual([10, 12, 20, 22]);
  });
});
