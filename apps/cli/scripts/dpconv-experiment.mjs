#!/usr/bin/env node
// The DPConv acceptance experiment (issue 6), run through the built CLI: T0 + DPConv on a 6-class
// synthetic shapes set at 64x64, official gate init (|g| = 1e-8) and |g| = 0.05, each without the
// complexity penalty and with a strong one, plus the n_div = 4 budget. About a minute per run on
// 2 CPU cores (wasm). Prints each run's val top-1 and where its split table went.
//
//   pnpm build && node apps/cli/scripts/dpconv-experiment.mjs WORKDIR [--epochs N] [--only a,b]
//
// WORKDIR keeps the data set (rendered once, reused) and one run folder per configuration.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CONFIGS = [
  ['no-penalty', ['--dpconv-alpha=0']],
  ['strong-penalty', ['--dpconv-b', '8', '--dpconv-alpha=-2']],
  ['budget-ndiv4', ['--dpconv-b', '2', '--dpconv-alpha=-1']],
  ['init0.05-no-penalty', ['--dpconv-alpha=0', '--gate-init', '0.05']],
  ['init0.05-strong-penalty', ['--dpconv-b', '8', '--dpconv-alpha=-2', '--gate-init', '0.05']],
];

const usage = `usage: node apps/cli/scripts/dpconv-experiment.mjs WORKDIR [--epochs N] [--only NAME,NAME]
configurations: ${CONFIGS.map(([name]) => name).join(', ')}`;

let parsed;
try {
  parsed = parseArgs({ allowPositionals: true, options: { epochs: { type: 'string', default: '4' }, only: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
} catch (err) {
  console.error(`${err.message}\n${usage}`);
  process.exit(2);
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (positionals.length !== 1) {
  console.error(usage);
  process.exit(2);
}
const work = resolve(positionals[0]);
const only = values.only?.split(',').map((s) => s.trim());
const unknown = only?.filter((name) => !CONFIGS.some(([n]) => n === name)) ?? [];
if (unknown.length > 0) {
  console.error(`--only: unknown configuration(s) ${unknown.join(', ')}\n${usage}`);
  process.exit(2);
}

const cli = fileURLToPath(new URL('../dist/main.js', import.meta.url));
if (!existsSync(cli)) {
  console.error(`${cli} does not exist: build the CLI first (pnpm build)`);
  process.exit(1);
}

/** Runs the CLI with `args`, echoing its output; resolves to the output, rejects on a non-zero exit. */
function partialnet(args) {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      out += chunk;
    });
    child.on('error', fail);
    child.on('close', (code, signal) => (code === 0 ? done(out) : fail(new Error(`partialnet ${args.slice(0, 2).join(' ')} exited with ${signal ?? code}`))));
  });
}

const data = join(work, 'shapes-cls');
if (!existsSync(join(data, 'val'))) {
  await partialnet(['data', 'synth-cls', '--out', data, '--per-class', '40', '--val-per-class', '10', '--size', '64', '--seed', '11']);
}
const common = ['--data', data, '--variant', 't0', '--dpconv', '--size', '64', '--batch', '16', '--epochs', values.epochs, '--lr', '2e-3', '--warmup-epochs', '0.5', '--crop-scale', '0.35,1', '--backend', 'wasm', '--no-progress'];

const results = [];
for (const [name, extra] of CONFIGS) {
  if (only && !only.includes(name)) continue;
  console.log(`=== ${name}`);
  const out = join(work, name);
  const log = await partialnet(['train-cls', ...common, '--out', out, ...extra]);
  const top1 = /val top-1 (\d+(?:\.\d+)?)%/.exec(log)?.[1];
  if (top1 === undefined) throw new Error(`${name}: no 'val top-1' line in the train-cls output`);
  results.push({ name, top1: Number(top1), splits: join(out, 'splits.txt') });
}

console.log('\n=== results');
const width = Math.max(...results.map((r) => r.name.length));
for (const r of results) console.log(`${r.name.padEnd(width)}  top-1 ${r.top1.toFixed(2).padStart(6)}%  ${r.splits}`);
