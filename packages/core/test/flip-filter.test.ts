import { describe, expect, it } from 'vitest';
import { setupBackend, tf } from '../src/index.js';
import { flipFilter } from '../src/ops/flip-filter.js';

describe('flipFilter (the input-gradient filter of a stride-1 conv)', () => {
  it.each([
    [3, 3, 4, 5],
    [3, 2, 7, 1],
    [1, 1, 2, 3],
    [5, 5, 3, 3],
  ])('wasm kernel equals reverse + transpose exactly for a %ix%ix%ix%i filter, and frees what it makes', async (...shape) => {
    await setupBackend('wasm');
    expect(tf.getKernel('PartialnetFlipFilter', 'wasm')).toBeDefined();
    const values = Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 1.7) * 10 + i);
    const f = tf.tensor4d(values, shape as [number, number, number, number]);
    const before = tf.memory().numTensors;
    const flipped = flipFilter(f);
    const reference = tf.tidy(() => tf.transpose(tf.reverse(f, [0, 1]), [0, 1, 3, 2]));
    expect(flipped.shape).toEqual([shape[0], shape[1], shape[3], shape[2]]);
    expect(Array.from(await flipped.data())).toEqual(Array.from(await reference.data()));
    tf.dispose([flipped, reference]);
    expect(tf.memory().numTensors).toBe(before);
    f.dispose();
  });

  it('on the cpu backend takes the plain reverse + transpose path with the same result', async () => {
    await setupBackend('cpu');
    const f = tf.tensor4d(Float32Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => i), [2, 3, 2, 2]);
    // tap (i, j) of the result is tap (1 - i, 2 - j) of f with in/out swapped
    const got = await flipFilter(f).array();
    const src = await f.array();
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let o = 0; o < 2; o++) for (let c = 0; c < 2; c++) expect(got[i]![j]![o]![c]).toBe(src[1 - i]![2 - j]![c]![o]);
    f.dispose();
  });
});
