// `pnpm demo seg`: make the synthetic shapes set, train Semantic FPN with a PartialNet-T0 backbone
// on its semantic labels (background + 6 shapes) on the best available backend, print the mmseg
// per-class IoU / Acc table of the val split, and write label PNGs and colour overlays of a few val
// images. Everything lands in runs/demo-seg/. Sized for about 10 minutes on two CPU cores with the
// wasm backend; `pnpm demo seg --resume` continues an interrupted run.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'apps/cli/dist/main.js');
if (!existsSync(cli)) {
  console.error('apps/cli is not built: run `pnpm build` first');
  process.exit(1);
}
const out = join(root, 'runs/demo-seg');
const data = join(out, 'data');
const run = join(out, 'run');
const args = process.argv.slice(3);
const fresh = !args.includes('--resume');
if (fresh) rmSync(out, { recursive: true, force: true });

/** CPU seconds used by finished child processes (Linux /proc; undefined elsewhere). */
function childCpuSeconds() {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100; // cutime + cstime, in clock ticks (100 Hz)
  } catch {
    return undefined;
  }
}

function partialnet(step, argv) {
  console.log(`\n== ${step}: partialnet ${argv.join(' ')}`);
  const started = performance.now();
  const cpu0 = childCpuSeconds();
  const result = spawnSync(process.execPath, [cli, ...argv], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`demo seg: '${step}' failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
  const cpu1 = childCpuSeconds();
  return { wall: (performance.now() - started) / 1000, cpu: cpu0 === undefined || cpu1 === undefined ? undefined : cpu1 - cpu0 };
}

const times = {};
const began = performance.now();
if (!existsSync(join(data, 'shapes.json'))) {
  times.data = partialnet('data', ['data', 'synth', '--out', data, '--images', '600', '--size', '128x128', '--seed', '7']);
}
// mmseg's pipeline scaled to 128x128 images: RandomResize 0.75-1.5 of (256, 128), crops of 128.
times.train = partialnet('train', [
  'train-seg', '--preset', 'semantic-fpn-lite-t0', '--data', data, '--out', run,
  '--iters', '240', '--batch', '8', '--lr', '1e-3', '--scale', '256,128', '--crop', '128,128', '--ratio', '0.75,1.5',
  ...(fresh ? [] : ['--resume']),
]);
const valDir = join(data, 'val');
const samples = readdirSync(valDir).sort().slice(0, 6).map((f) => join(valDir, f));
times.predict = partialnet('predict', ['predict-seg', '--checkpoint', run, ...samples, '--out', join(out, 'predictions')]);
const total = (performance.now() - began) / 1000;
const cpu = Object.values(times).reduce((s, t) => (s === undefined || t.cpu === undefined ? undefined : s + t.cpu), 0);
console.log(
  `\ndemo seg finished in ${(total / 60).toFixed(1)} min wall (${Object.entries(times).map(([k, v]) => `${k} ${v.wall.toFixed(0)} s`).join(', ')})` +
    (cpu === undefined ? '' : `, ${(cpu / 60).toFixed(1)} min of CPU time (on an otherwise idle machine the wall time is close to this)`),
);
console.log(`run folder: ${run} (log.jsonl, curve.png); pictures: ${join(out, 'predictions')}`);
