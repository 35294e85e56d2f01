import { describe, expect, it } from 'vitest';
import { planBatch } from '../src/ops.js';

describe('planBatch', () => {
  it('splits the standard 1333x800 batch of 2 on wasm into 1 x accumulate 2, keeping images per step', () => {
    expect(planBatch({ batchSize: 2, accumulate: 1 }, [1333, 800], 'wasm')).toEqual({ batchSize: 1, accumulate: 2 });
    expect(planBatch({ batchSize: 4, accumulate: 2 }, [1333, 800], 'wasm')).toEqual({ batchSize: 1, accumulate: 8 });
  });

  it('leaves batches that fit, and every other backend, alone; keeps a divisor of the batch', () => {
    expect(planBatch({ batchSize: 2, accumulate: 1 }, [640, 480], 'wasm')).toEqual({ batchSize: 2, accumulate: 1 });
    expect(planBatch({ batchSize: 2, accumulate: 1 }, [1333, 800], 'webgpu')).toEqual({ batchSize: 2, accumulate: 1 });
    // 3 images of 800x600 fit per step, but 3 does not divide 4: 2 x accumulate 2
    expect(planBatch({ batchSize: 4, accumulate: 1 }, [800, 600], 'wasm')).toEqual({ batchSize: 2, accumulate: 2 });
  });
});
