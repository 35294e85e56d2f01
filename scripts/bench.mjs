// `pnpm bench <name> [args]`: runs one benchmark from the built packages and prints its JSON lines.
//   backbone   -> partialnet bench backbone
//   detection  -> partialnet bench detection
//   gpu        -> partialnet bench gpu (the GPU machine script; --quick for a smoke run)
//   coco       -> packages/coco bench
//   data       -> packages/data bench
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const [name, ...args] = process.argv.slice(2);
const targets = {
  backbone: ['apps/cli/dist/main.js', 'bench', 'backbone'],
  detection: ['apps/cli/dist/main.js', 'bench', 'detection'],
  gpu: ['apps/cli/dist/main.js', 'bench', 'gpu'],
  coco: ['packages/coco/bench/coco.mjs'],
  data: ['packages/data/dist/bench.js'],
};
const target = targets[name];
if (!target) {
  console.error(`usage: pnpm bench <${Object.keys(targets).join('|')}> [options]`);
  process.exit(2);
}
const built = { backbone: 'apps/cli/dist/main.js', detection: 'apps/cli/dist/main.js', gpu: 'apps/cli/dist/main.js', coco: 'packages/coco/dist/index.js', data: 'packages/data/dist/bench.js' }[name];
if (!existsSync(root + built)) {
  console.error(`${built} is not built: run \`pnpm build\` first`);
  process.exit(1);
}
const result = spawnSync(process.execPath, [root + target[0], ...target.slice(1), ...args], { stdio: 'inherit' });
process.exit(result.status ?? 1);
