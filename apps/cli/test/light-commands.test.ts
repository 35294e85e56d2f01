// Commands that need no tensor runtime start without loading tfjs (see src/light-commands.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { findLightCommand, LIGHT_COMMANDS } from '../src/light-commands.js';
import { findCommand } from '../src/registry.js';

describe('light commands', () => {
  it('are the registry’s commands of the same names', async () => {
    expect(Object.keys(LIGHT_COMMANDS).length).toBeGreaterThan(0);
    for (const name of Object.keys(LIGHT_COMMANDS)) {
      const words = name.split(' ');
      const light = await findLightCommand([...words, '--x']);
      expect(light?.command).toBe(findCommand(words)?.command);
      expect(light?.rest).toEqual(['--x']);
    }
    expect(await findLightCommand(['eval'])).toBeUndefined();
  });
});

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

describe.skipIf(!existsSync(MAIN))('the built CLI (dist/main.js)', () => {
  // a loader hook that fails every import of a @tensorflow package
  const dir = mkdtempSync(join(tmpdir(), 'light-commands-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `export async function resolve(specifier, context, next) {
      if (specifier.startsWith('@tensorflow/')) throw new Error('tfjs imported: ' + specifier);
      return next(specifier, context);
    }\n`,
  );
  const register = join(dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(new URL(`file://${hooks}`).href)});\n`);
  const run = (args: string[]) => spawnSync(process.execPath, ['--import', register, MAIN, ...args], { encoding: 'utf8' });

  it('runs eval coco with every @tensorflow import refused (pycocotools\' segm stats of the coco fixture), and the hook does refuse them elsewhere', () => {
    const fixture = fileURLToPath(new URL('../../../packages/coco/test/fixtures/segm-seed1/', import.meta.url));
    const out = join(dir, 'segm.json');
    const light = run(['eval', 'coco', '--gt', join(fixture, 'gt.json'), '--results', join(fixture, 'results.json'), '--iou-type', 'segm', '--threads', '2', '--json', out]);
    expect(light.stderr).not.toMatch(/tfjs imported|Error/);
    expect(light.status).toBe(0);
    const want = JSON.parse(readFileSync(join(fixture, 'expected.json'), 'utf8')) as { stats: number[] };
    expect((JSON.parse(readFileSync(out, 'utf8')) as { stats: number[] }).stats).toEqual(want.stats);
    // the same hook stops a command that needs tfjs
    const heavy = run(['info', '--help']);
    expect(heavy.status).not.toBe(0);
    expect(heavy.stderr).toMatch(/tfjs imported: @tensorflow\//);
  });
});
