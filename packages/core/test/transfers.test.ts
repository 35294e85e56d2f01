import { describe, expect, it } from 'vitest';
import { countTransfers } from '../src/runtime/transfers.js';
import { listBackends, setupBackend } from '../src/runtime/backend.js';
import { tf } from '../src/tf.js';

const gpu = (await listBackends()).find((p) => p.name === 'webgpu')!;

describe('countTransfers', () => {
  it('counts the bytes of tensors made from host arrays and of reads on wasm, once each, and stops cleanly', async () => {
    await setupBackend('wasm');
    const counter = countTransfers();
    const a = tf.tensor1d(new Float32Array(100));
    const b = tf.add(a, 1);
    await b.data(); // wasm's read goes through readSync: counted once
    counter.stop();
    const after = tf.mul(b, 2);
    await after.data(); // not counted: stopped
    tf.dispose([a, b, after]);
    // The scalar 1 is a host value too (4 bytes).
    expect(counter.counts.toDevice).toBe(400 + 4);
    expect(counter.counts.uploads).toBe(2);
    expect(counter.counts.toHost).toBe(400);
    expect(counter.counts.reads).toBe(1);
    expect(counter.counts.syncReads).toBe(0);
  });

  it('counts wasm kernels that copy an input out of wasm memory as synchronous reads (core\'s Slice / SplitV / Concat / GatherV2 read none)', async () => {
    await setupBackend('wasm');
    const a = tf.tensor1d(new Float32Array(100));
    const indices = tf.tensor1d(new Int32Array(20), 'int32');
    const a2 = tf.reshape(a, [1, 100]);
    const indices2 = tf.reshape(indices, [1, 20]);
    const counter = countTransfers();
    const g = tf.gather(a, indices);
    const copies = [tf.slice(a, [10], [20]), ...tf.split(a, [30, 70]), tf.concat([a, a])];
    const ours = counter.counts.syncReadBytes;
    const batched = tf.gather(a2, indices2, 1, 1); // batch dims: wasm's own GatherV2, which reads its indices
    counter.stop();
    tf.dispose([a, indices, a2, indices2, g, batched, ...copies]);
    expect(ours).toBe(0);
    expect(counter.counts.syncReadBytes).toBe(80);
    expect(counter.counts.toHost).toBe(0);
  });

  it('counts nothing on cpu, which has no device', async () => {
    await setupBackend('cpu');
    const counter = countTransfers();
    const a = tf.tensor1d([1, 2, 3]);
    await a.data();
    counter.stop();
    a.dispose();
    expect(counter.counts).toEqual({ toDevice: 0, toHost: 0, uploads: 0, reads: 0, syncReadBytes: 0, syncReads: 0 });
  });

  it.skipIf(!gpu.available)(gpu.available ? 'counts uploads into and reads out of GPU buffers on webgpu' : `WebGPU suite skipped: ${gpu.reason}`, async () => {
    await setupBackend('webgpu');
    const a = tf.ones([32, 32]);
    const counter = countTransfers();
    const b = tf.tensor2d(new Float32Array(32 * 32), [32, 32]);
    const c = tf.matMul(a, b); // a and b are uploaded when the kernel first needs them
    await c.data();
    await c.data(); // already on the host: not counted again
    counter.stop();
    tf.dispose([a, b, c]);
    await setupBackend('wasm');
    expect(counter.counts.toDevice).toBe(2 * 4096);
    expect(counter.counts.toHost).toBe(4096);
    expect(counter.counts.reads).toBe(1);
  });
});
