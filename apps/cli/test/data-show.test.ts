// Issue 10, "Work lost" 7: `data show` on a broken folder says which file and what is wrong.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dataShowCommand } from '../src/commands/data-show.js';

describe('data show on a bad folder', () => {
  const root = mkdtempSync(join(tmpdir(), 'data-show-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const folder = (name: string, files: Record<string, string>) => {
    const dir = join(root, name);
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(join(dir, f, '..'), { recursive: true });
      writeFileSync(join(dir, f), text);
    }
    return dir;
  };
  const failure = async (dir: string) => {
    const err = (await dataShowCommand.run(['--data', dir, '--out', join(root, 'out')]).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    // Not a raw JSON.parse or property-access error.
    expect(err).not.toBeInstanceOf(SyntaxError);
    expect(err).not.toBeInstanceOf(TypeError);
    return err.message;
  };

  it('a manifest that is not JSON names the file', async () => {
    const dir = folder('not-json', { 'shapes.json': '{"splits": {' });
    expect(await failure(dir)).toMatch(new RegExp(`${join(dir, 'shapes.json')}: .*not valid JSON|${join(dir, 'shapes.json')}: unreadable`));
  });

  it('a manifest without splits names the field', async () => {
    const dir = folder('no-splits', { 'shapes.json': '{"width": 64}' });
    expect(await failure(dir)).toMatch(/shapes\.json: field 'splits'/);
  });

  it('a manifest whose split lacks its paths names the split', async () => {
    const dir = folder('bad-split', { 'shapes.json': '{"splits": {"train": {"images": 3}}}' });
    expect(await failure(dir)).toMatch(/shapes\.json: field 'splits\.train'/);
  });

  it('an annotation file that is not JSON names the file', async () => {
    const dir = folder('bad-ann', { 'annotations/instances_train.json': '[1, 2', 'train/.keep': '' });
    expect(await failure(dir)).toMatch(/instances_train\.json/);
  });
});
