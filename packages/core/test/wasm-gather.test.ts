import { beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tf } from '../src/index.js';
import { withStock } from './wasm-stock.js';

// GatherV2 on wasm against tfjs-backend-wasm's own kernel: a copy, so bit-exact (raw words).

const bits = (t: tf.Tensor): number[] => {
  const v = t.dataSync();
  return v instanceof Float32Array ? Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length)) : Array.from(v as Int32Array | Uint8Array);
};

function sample(shape: number[], dtype: 'float32' | 'int32' | 'bool'): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (dtype === 'bool') return tf.tensor(Array.from({ length: n }, (_, i) => i % 3 === 0), shape, 'bool');
  if (dtype === 'int32') return tf.tensor(Array.from({ length: n }, (_, i) => i * 7 - 40), shape, 'int32');
  const v = new Float32Array(n).map((_, i) => Math.cos(i * 0.31) * 50);
  if (n > 2) [v[0], v[1]] = [-0, NaN];
  return tf.tensor(v, shape, 'float32');
}

describe('wasm GatherV2 (row copies)', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  const cases: [string, number[], 'float32' | 'int32' | 'bool', number[], number[], number][] = [
    ['rows of 256 floats (RoIAlign)', [40, 256], 'float32', [100], Array.from({ length: 100 }, (_, i) => (i * 13) % 40), 0],
    ['short rows, repeated indices', [7, 3], 'float32', [5], [6, 0, 0, 3, 6], 0],
    ['a middle axis', [2, 6, 5], 'float32', [2, 2], [5, 1, 1, 0], 1],
    ['the last axis', [3, 4, 9], 'int32', [4], [8, 0, 4, 4], 2],
    ['bool, 1-byte rows', [5, 3], 'bool', [3], [4, 2, 0], 0],
    ['no indices', [4, 8], 'float32', [0], [], 0],
  ];
  it.each(cases)('equals the stock kernel bit for bit: %s, without leaking', (_, shape, dtype, idxShape, idx, axis) => {
    const x = sample(shape, dtype);
    const indices = tf.tensor(idx, idxShape, 'int32');
    const before = tf.memory().numTensors;
    const ours = tf.gather(x, indices, axis);
    const stock = withStock(() => tf.gather(x, indices, axis));
    expect(ours.shape).toEqual(stock.shape);
    expect(bits(ours)).toEqual(bits(stock));
    tf.dispose([ours, stock]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, indices]);
  });

  it('names the index, its position and the valid range when an index is out of bounds', () => {
    const x = sample([4, 2], 'float32');
    const indices = tf.tensor1d([1, 4], 'int32');
    expect(() => tf.gather(x, indices)).toThrow(/GatherV2: index 4 at position 1 is outside \[0, 3\]/);
    tf.dispose([x, indices]);
  });

  it('leaves gathers with batch dims to the stock kernel, which still works', () => {
    const x = tf.tensor2d([[10, 11, 12, 13]]);
    const indices = tf.tensor2d([[3, 0, 3]], [1, 3], 'int32');
    const g = tf.gather(x, indices, 1, 1);
    expect(Array.from(g.dataSync())).toEqual([13, 10, 13]);
    tf.dispose([x, indices, g]);
  });
});
