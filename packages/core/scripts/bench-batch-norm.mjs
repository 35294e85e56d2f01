// BatchNorm2d training forward + backward alone, on the built package: the fused wasm kernels
// (nn/batch-norm-kernels.ts) against the composite they replace (kernels unregistered),
// interleaved in one process so that both see the same machine; prints 10th-percentile times.
//
//   PARTIALNET_THREADS=2 node packages/core/scripts/bench-batch-norm.mjs [16,14,14,256]
const dist = new URL('../dist/', import.meta.url);
const { setupBackend, tf, BatchNorm2d } = await import(new URL('index.js', dist).href);
const { registerBatchNormKernels, unregisterBatchNormKernels } = await import(new URL('nn/batch-norm-kernels.js', dist).href);
const { kernelPool } = await import(new URL('runtime/kernel-pool.js', dist).href);
const { wasmHeap } = await import(new URL('runtime/wasm-internals.js', dist).href);

const report = await setupBackend('wasm');
const shape = JSON.parse(process.argv[2] ?? '[16,14,14,256]');
const bn = new BatchNorm2d(shape[shape.length - 1]);
bn.train();
const x = tf.randomNormal(shape, 0.5, 2, 'float32', 1);
const dy = tf.randomNormal(shape, 0, 1, 'float32', 2);
const step = () => tf.grad((v) => bn.forward(v))(x, dy).dispose();
const times = { fused: [], composite: [] };
const [warmup, iters] = [5, 40];
for (let it = 0; it < warmup + iters; it++) {
  for (const mode of ['fused', 'composite']) {
    if (mode === 'fused') registerBatchNormKernels();
    else unregisterBatchNormKernels();
    const t0 = performance.now();
    step();
    if (it >= warmup) times[mode].push(performance.now() - t0);
  }
}
registerBatchNormKernels();
const p10 = (a) => +a.sort((p, q) => p - q)[Math.floor(a.length / 10)].toFixed(2);
const [fused, composite] = [p10(times.fused), p10(times.composite)];
const poolTasks = kernelPool(wasmHeap(tf.backend()).memory())?.tasks ?? 0;
console.log(JSON.stringify({ bench: 'batch-norm train fwd+bwd', shape, threads: report.wasm?.threads ?? 1, fusedMs: fused, compositeMs: composite, speedup: +(composite / fused).toFixed(2), poolTasks }));
tf.dispose([x, dy]);
bn.dispose();
