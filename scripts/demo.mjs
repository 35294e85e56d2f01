// `pnpm demo`, the main job: make the synthetic shapes set, train a Mask R-CNN with a
// PartialNet-T0 backbone on the best available backend (training ends with the bbox and segm AP
// of the val split), draw predictions and the training curve. Everything lands in runs/demo/.
// Sized for about 10 minutes on two CPU cores with the wasm backend; `--resume` continues an
// interrupted run.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'apps/cli/dist/main.js');
if (!existsSync(cli)) {
  console.error('apps/cli is not built: run `pnpm build` first');
  process.exit(1);
}
const args = process.argv.slice(2);
if (args[0] === 'seg') {
  await import('./demo-seg.mjs');
  process.exit(0);
}
const out = join(root, 'runs/demo');
const data = join(out, 'data');
const run = join(out, 'run');
const fresh = !args.includes('--resume');
if (fresh) rmSync(out, { recursive: true, force: true });

function partialnet(step, argv) {
  console.log(`\n== ${step}: partialnet ${argv.join(' ')}`);
  const started = performance.now();
  const result = spawnSync(process.execPath, [cli, ...argv], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`demo: '${step}' failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
  return (performance.now() - started) / 1000;
}

const times = {};
const began = performance.now();
if (!existsSync(join(data, 'shapes.json'))) {
  times.data = partialnet('data', ['data', 'synth', '--out', data, '--images', '1200', '--size', '128x128', '--seed', '7']);
}
times.train = partialnet('train', [
  'train', '--preset', 'mask-rcnn-lite-t0', '--data', data, '--out', run,
  '--epochs', '1', '--batch', '4', '--lr', '1e-3', '--schedule', 'cosine', '--scale', '128,128',
  ...(fresh ? [] : ['--resume']),
]);
const valDir = join(data, 'val');
const samples = readdirSync(valDir).sort().slice(0, 6).map((f) => join(valDir, f));
times.predict = partialnet('predict', ['predict', '--checkpoint', run, ...samples, '--out', join(out, 'predictions'), '--score', '0.3']);
const total = (performance.now() - began) / 1000;
console.log(`\ndemo finished in ${(total / 60).toFixed(1)} min (${Object.entries(times).map(([k, v]) => `${k} ${v.toFixed(0)} s`).join(', ')})`);
console.log(`run folder: ${run} (log.jsonl, events.out.tfevents.*, curve.png, results.val.*.json); pictures: ${join(out, 'predictions')}`);
