import { describe, expect, it } from 'vitest';
import { DIST_URL, runOnTwoThreads } from './threaded-child.js';
import { splitRange } from '../src/runtime/kernel-pool.js';

describe('splitRange', () => {
  it('covers the units once, in near-equal non-empty parts, never more parts than units', () => {
    expect(splitRange(18, 2)).toEqual([[0, 9], [9, 18]]);
    expect(splitRange(3, 2)).toEqual([[0, 1], [1, 3]]);
    expect(splitRange(2, 4)).toEqual([[0, 1], [1, 2]]);
    expect(splitRange(1, 1)).toEqual([[0, 1]]);
  });
});

// The threaded wasm build starts once per process: the checks run in a child process on the built
// package with PARTIALNET_THREADS=2, comparing each kernel's output on one thread (pool switched
// off) with its output on the pool, bit for bit.
const srcFiles = ['runtime/kernel-pool.ts', 'runtime/kernel-pool-node.ts', 'runtime/winograd-kernels.ts', 'runtime/wasm-kernels.ts', 'runtime/wasm-matmul.ts', 'runtime/simd-matmul.ts', 'runtime/simd-kernels.ts', 'ops/matmul-tn.ts', 'ops/sigmoid-losses.ts', 'runtime/sigmoid-loss-kernels.ts', 'runtime/simd-math.ts', 'runtime/gather-sum-kernels.ts', 'ops/gather-weighted-sum.ts', 'runtime/wasm-copy-kernels.ts', 'ops/channel-style.ts', 'runtime/channel-style-simd.ts'];

const script = `
const d = ${JSON.stringify(DIST_URL.href)};
const { setupBackend, tf } = await import(d + 'index.js');
const { configureKernelPool, kernelPool, closeKernelPools } = await import(d + 'runtime/kernel-pool.js');
const { nodeKernelPool } = await import(d + 'runtime/kernel-pool-node.js');
const { wasmHeap } = await import(d + 'runtime/wasm-internals.js');
const { winogradConv2d } = await import(d + 'ops/winograd.js');
const { matMulTNBinary, matMulTNKernel } = await import(d + 'runtime/matmul-tn-kernels.js');
const r = await setupBackend('wasm');
const memory = wasmHeap(tf.backend()).memory();
const out = { threads: r.wasm.threads, shared: memory.buffer instanceof SharedArrayBuffer, cases: {} };
const tasks = () => kernelPool(memory)?.tasks ?? 0;

async function compare(name, compute) {
  configureKernelPool(1, nodeKernelPool);
  const serial = tf.tidy(compute);
  configureKernelPool(2, nodeKernelPool);
  const before = tasks();
  const tensorsBefore = tf.memory().numTensors;
  const parallel = tf.tidy(compute);
  const ran = tasks() - before;
  const leaked = tf.memory().numTensors - tensorsBefore - parallel.length;
  let differing = 0, total = 0;
  for (let i = 0; i < serial.length; i++) {
    const s = await serial[i].data(), p = await parallel[i].data();
    total += s.length;
    for (let j = 0; j < s.length; j++) if (!Object.is(s[j], p[j])) differing++;
  }
  tf.dispose([...serial, ...parallel]);
  out.cases[name] = { ran, differing, total, leaked };
}

const a = tf.randomUniform([3000, 72], -1, 1, 'float32', 1);
const b = tf.randomUniform([3000, 44], -1, 1, 'float32', 2);
// and a batch of small products (Winograd's planes on a tiny map): whole products per thread
const ba36 = tf.randomUniform([36, 8, 64], -1, 1, 'float32', 33);
const bb36 = tf.randomUniform([36, 8, 68], -1, 1, 'float32', 34);
await compare('matMulTN', () => [tf.engine().runKernel('PartialnetMatMulTN', { a, b }), tf.engine().runKernel('PartialnetMatMulTN', { a: ba36, b: bb36 })]);

const x = tf.randomUniform([200003], -4, 4, 'float32', 3);
const dy = tf.randomUniform([200003], -1, 1, 'float32', 4);
await compare('gelu', () => [tf.engine().runKernel('PartialnetGelu', { x }), tf.engine().runKernel('PartialnetGeluGrad', { x, dy })]);

// the focal loss sum adds fixed 1024-element chunks in a fixed order, so its bits must not depend
// on the thread count either (row weights with ignored rows, targets dense or as class labels;
// a 1-D tensor with a scalar tail)
const { fusedSigmoidLossSum, fusedSigmoidLossGrad } = await import(d + 'index.js');
const focal = { kind: 'focal', alpha: 0.25, gamma: 2 };
const lx = tf.randomUniform([9001, 80], -12, 12, 'float32', 11);
const lt = tf.cast(tf.greater(tf.randomUniform([9001, 80], 0, 1, 'float32', 12), 0.97), 'float32');
const lw = tf.cast(tf.greater(tf.randomUniform([9001, 1], 0, 1, 'float32', 13), 0.1), 'float32');
const ls = tf.scalar(0.01);
const ll = tf.cast(tf.floor(tf.randomUniform([9001], 0, 90, 'float32', 16)), 'int32');
const bx = tf.randomUniform([200003], -12, 12, 'float32', 14);
const bt = tf.cast(tf.greater(tf.randomUniform([200003], 0, 1, 'float32', 15), 0.5), 'float32');
await compare('sigmoid focal / BCE losses', () => [
  fusedSigmoidLossSum(lx, lt, lw, focal),
  fusedSigmoidLossGrad(lx, lt, lw, ls, focal),
  fusedSigmoidLossSum(lx, { labels: ll }, lw, focal),
  fusedSigmoidLossGrad(lx, { labels: ll }, lw, ls, focal),
  fusedSigmoidLossSum(bx, bt, null, { kind: 'bce' }),
  fusedSigmoidLossGrad(bx, bt, null, ls, { kind: 'bce' }),
]);

// PAT_ch's channel statistics and gate: the sums of an image are one thread's, the gate's rows
// split mid-image (15 images: the halves meet inside the 8th); C = 45 has an overlapping last vector
const { channelStyle, channelGate } = await import(d + 'index.js');
const sx = tf.randomNormal([15, 14, 14, 45], 3, 2, 'float32', 19);
const sg = tf.randomUniform([15, 45], 0, 1, 'float32', 20);
const ssh = tf.randomNormal([45], 0, 1, 'float32', 21);
const sp = tf.randomNormal([15, 90], 0, 1, 'float32', 22);
const sq = tf.randomNormal([15, 14, 14, 45], 0, 1, 'float32', 23);
await compare('channel style / gate', () => [
  channelStyle(sx),
  channelGate(sx, sg),
  channelGate(sx, sg, ssh),
  ...tf.grads((v, g) => tf.add(tf.sum(tf.mul(channelStyle(v), sp)), tf.sum(tf.mul(channelGate(v, g), sq))))([sx, sg]),
]);
// one image: the sums split the image's channels (the last span with the overlapping vector)
const ox = tf.randomNormal([1, 56, 56, 45], -2, 3, 'float32', 24);
const og = tf.randomUniform([1, 45], 0, 1, 'float32', 25);
const op = tf.randomNormal([1, 90], 0, 1, 'float32', 26);
const oq = tf.randomNormal([1, 56, 56, 45], 0, 1, 'float32', 27);
await compare('channel style / gate, one image', () => [
  channelStyle(ox),
  ...tf.grads((v, g) => tf.add(tf.sum(tf.mul(channelStyle(v), op)), tf.sum(tf.mul(channelGate(v, g), oq))))([ox, og]),
]);

const pad = { top: 1, bottom: 1, left: 1, right: 1 };
const ta = tf.randomUniform([300, 102], -1, 1, 'float32', 7);
const tb = tf.randomUniform([300, 64], -1, 1, 'float32', 8);
const ba = tf.randomUniform([2, 130, 128], -1, 1, 'float32', 9);
const bb = tf.randomUniform([2, 72, 128], -1, 1, 'float32', 10);
await compare('BatchMatMul', () => [tf.matMul(ta, tb, true, false), tf.matMul(ba, bb, false, true)]);
// batches of at least two products per thread go out as whole products per thread
const pa = tf.randomUniform([9, 40, 96], -1, 1, 'float32', 11);
const pb = tf.randomUniform([9, 96, 40], -1, 1, 'float32', 12);
const qa = tf.randomUniform([6, 130, 64], -1, 1, 'float32', 13);
const qb = tf.randomUniform([64, 48], -1, 1, 'float32', 14);
await compare('BatchMatMul by products', () => [tf.matMul(pa, pb), tf.matMul(qa, qb), tf.matMul(pa, pb, true, true)]);
// a single product with B past L2: blocked, each column panel's rows in bands per thread
const fa = tf.randomUniform([66, 600], -1, 1, 'float32', 15);
const fb = tf.randomUniform([600, 460], -1, 1, 'float32', 16);
const fbias = tf.randomUniform([460], -1, 1, 'float32', 17);
const fbt = tf.randomUniform([460, 600], -1, 1, 'float32', 18);
await compare('BatchMatMul blocked (B past L2)', () => [tf.fused.matMul({ a: fa, b: fb, bias: fbias }), tf.matMul(fa, fbt, false, true)]);
// few rows of A past L2 (a Winograd filter transform): ranges of column panels per thread
const wa = tf.randomUniform([36, 9], -1, 1, 'float32', 26);
const wb = tf.randomUniform([9, 22005], -1, 1, 'float32', 27);
const wbias = tf.randomUniform([22005], -1, 1, 'float32', 28);
const wga = tf.randomUniform([9, 36], -1, 1, 'float32', 29);
const wgbt = tf.randomUniform([6021, 36], -1, 1, 'float32', 30);
// batches of transposes (Transpose of the last two axes, the packing of a transposed B): whole matrices per thread
const ta3 = tf.randomUniform([36, 128, 130], -1, 1, 'float32', 31);
const tb3 = tf.randomUniform([36, 40, 130], -1, 1, 'float32', 32);
await compare('batches of transposes', () => [tf.transpose(ta3, [0, 2, 1]), tf.matMul(tb3, ta3, false, true)]);
await compare('BatchMatMul in column panels (few rows)', () => [tf.fused.matMul({ a: wa, b: wb, bias: wbias }), tf.matMul(wga, wgbt, false, true)]);

// RoIAlign's weighted row sums: rows split over threads forward, columns for the scatter back
const { gatherWeightedSum } = await import(d + 'index.js');
const gt = tf.randomUniform([500, 256], -1, 1, 'float32', 19);
const gi = tf.cast(tf.floor(tf.randomUniform([900, 9], 0, 500, 'float32', 20)), 'int32');
const gw = tf.randomUniform([900, 9], 0, 1, 'float32', 21);
const gdy = tf.randomUniform([900, 256], -1, 1, 'float32', 22);
await compare('gatherWeightedSum and its scatter', () => [gatherWeightedSum(gt, gi, gw), tf.grad((t) => tf.sum(tf.mul(gatherWeightedSum(t, gi, gw), gdy)))(gt)]);

// copies of 2 MiB or more go out in bands of rows
const ca = tf.randomUniform([16, 56, 56, 8], -1, 1, 'float32', 23);
const cb = tf.randomUniform([16, 56, 56, 24], -1, 1, 'float32', 24);
const patches = tf.randomUniform([16, 56, 4, 56, 4, 3], -1, 1, 'float32', 25);
await compare('Concat, SplitV, Slice and an adjacent-axes Transpose in bands', () => {
  const cat = tf.concat([ca, cb], 3);
  return [cat, ...tf.split(cat, [8, 24], 3), tf.slice(cat, [0, 0, 0, 4], [16, 56, 56, 20]), tf.transpose(patches, [0, 1, 3, 2, 4, 5])];
});

// one wake-up each: a slice of channels (one grid of rows), an interior crop (images x rows) and a spatial pad
const big = tf.randomUniform([2, 66, 66, 128], -1, 1, 'float32', 35);
await compare('Slice (channels, interior) and PadV2 on the pool', () => [tf.slice(big, [0, 0, 0, 8], [2, 66, 66, 80]), tf.slice(big, [0, 1, 1, 0], [2, 64, 64, 128]), tf.pad(big, [[0, 0], [1, 1], [1, 1], [0, 0]])]);

// a large same-shape sum on the pool (one wake-up), a broadcast one left to XNNPACK (none)
const big2 = tf.randomUniform([2, 66, 66, 128], -1, 1, 'float32', 36);
const row = tf.randomUniform([128], -1, 1, 'float32', 37);
await compare('Add of two large maps', () => [tf.add(big, big2)]);
await compare('Add with a broadcast', () => [tf.add(big, row)]);

const w = tf.randomUniform([3, 3, 32, 32], -0.2, 0.2, 'float32', 5);
for (const [label, shape] of [['winograd by image', [2, 34, 34, 32]], ['winograd by tile rows', [1, 66, 66, 32]]]) {
  const xi = tf.randomUniform(shape, -1, 1, 'float32', 6);
  const g = tf.grads((xx, ww) => winogradConv2d(xx, ww, pad, 4).square().sum());
  await compare(label, () => [winogradConv2d(xi, w, pad, 4), ...g([xi, w])]);
}

// a share that faults on the worker: the call throws (no hang) and the pool still works after
const kernel = matMulTNKernel(memory);
const pool = kernelPool(memory);
const far = memory.buffer.byteLength - 64;
let error = '';
try {
  pool.run(matMulTNBinary(true), 'matMulTN', [[0, 0, 0, 0, 4, 4, 8, 4], [far, far, far, 1000, 4, 4, 8, 4]], kernel);
} catch (e) {
  error = String(e.message);
}
out.workerError = error;
await compare('matMulTN after a worker error', () => [tf.engine().runKernel('PartialnetMatMulTN', { a, b })]);
closeKernelPools();
await compare('matMulTN on a pool restarted after closeKernelPools', () => [tf.engine().runKernel('PartialnetMatMulTN', { a, b })]);
console.log(JSON.stringify(out));
`;

describe.skipIf(typeof SharedArrayBuffer !== 'function')('kernel pool on the threaded wasm build', () => {
  it('runs a^T b, GELU, the sigmoid focal / BCE losses (sums included), channel style / gate (with gradients; images or channels split), the Winograd transforms, BatchMatMul (batched, banded, blocked and in column panels), batches of transposes, the weighted row gather / scatter, large copies, slices, pads and sums on two threads with results bit-identical to one thread, no leaks, and reports a worker fault', () => {
    const out = runOnTwoThreads<{
      threads: number;
      shared: boolean;
      workerError: string;
      cases: Record<string, { ran: number; differing: number; total: number; leaked: number }>;
    }>(script, srcFiles);
    expect(out.threads).toBe(2);
    expect(out.shared).toBe(true);
    expect(out.workerError).toMatch(/matMulTN failed on a worker thread: worker 1: .*(out of bounds|RuntimeError)/);
    // one wake-up for the single product's bands, one for the whole batch
    expect(out.cases['matMulTN']!.ran).toBe(2);
    expect(Object.keys(out.cases)).toHaveLength(19);
    // one wake-up per batched product: whole products per thread, not bands of each product's rows
    expect(out.cases['BatchMatMul by products']!.ran).toBe(3);
    expect(out.cases['Slice (channels, interior) and PadV2 on the pool']!.ran).toBe(3);
    // one wake-up per few-row product: ranges of whole column panels per thread
    expect(out.cases['BatchMatMul in column panels (few rows)']!.ran).toBe(2);
    expect(out.cases['Add of two large maps']!.ran).toBe(1);
    expect(out.cases['Add with a broadcast']!.ran).toBe(0);
    for (const [name, c] of Object.entries(out.cases)) {
      if (name !== 'Add with a broadcast') expect(c.ran, `${name}: calls on the pool`).toBeGreaterThan(0);
      expect(c.total, name).toBeGreaterThan(0);
      expect(c.differing, `${name}: elements that differ from one thread`).toBe(0);
      expect(c.leaked, `${name}: tensors left behind`).toBe(0);
    }
  }, 240_000);
});
