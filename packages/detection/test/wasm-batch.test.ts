import { describe, expect, it } from 'vitest';
import { microBatchFor } from '../src/ops.js';

describe('microBatchFor', () => {
  it('splits the standard 1333x800 batch on wasm into micro-batches of one image', () => {
    expect(microBatchFor(2, [1333, 800], 'wasm')).toBe(1);
    expect(microBatchFor(4, [1333, 800], 'wasm')).toBe(1);
  });

  it('leaves batches that fit, and every other backend, alone; keeps a divisor of the batch', () => {
    expect(microBatchFor(2, [640, 480], 'wasm')).toBe(2);
    expect(microBatchFor(2, [1333, 800], 'webgpu')).toBe(2);
    expect(microBatchFor(2, [1333, 800], 'cpu')).toBe(2);
    // 3 images of 800x600 fit per pass, but 3 does not divide 4: micro-batches of 2
    expect(microBatchFor(4, [800, 600], 'wasm')).toBe(2);
    expect(microBatchFor(3, [1333, 800], 'wasm')).toBe(1);
  });
});
