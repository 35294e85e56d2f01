import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readWeightsFile } from '@partialnet/core';
import { UsageError } from '../src/command.js';
import { convertCommand } from '../src/commands/convert.js';
import { findCommand } from '../src/registry.js';

const PTH = fileURLToPath(new URL('../../../packages/core/test/fixtures/pth/', import.meta.url));

describe('partialnet convert', () => {
  const dir = mkdtempSync(join(tmpdir(), 'convert-'));
  let logs: string[] = [];
  beforeAll(() => {
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void logs.push(args.join(' ')));
  });
  afterAll(() => {
    vi.restoreAllMocks();
    rmSync(dir, { recursive: true, force: true });
  });

  it('mmdet .pth -> safetensors -> .pth keeps the state_dict entry bit for bit, dtypes included; prefixes rename', async () => {
    expect(findCommand(['convert', 'a', 'b'])?.command).toBe(convertCommand);
    const src = `${PTH}mmdet-checkpoint/checkpoint.pth`;
    const st = join(dir, 'm.safetensors');
    const back = join(dir, 'm.pth');
    expect(await convertCommand.run([src, st])).toBe(0);
    expect(logs.at(-1)).toMatch(/wrote 136 tensors .* \(state_dict\) to .*m\.safetensors as safetensors/);
    expect(await convertCommand.run([st, back, '--strip-prefix', 'backbone.', '--add-prefix', 'detector.'])).toBe(0);
    const a = await readWeightsFile(src);
    const b = await readWeightsFile(back);
    expect(b.entry).toBe('');
    for (const [name, t] of a.tensors) {
      const renamed = `detector.${name.startsWith('backbone.') ? name.slice('backbone.'.length) : name}`;
      const u = b.tensors.get(renamed);
      expect(u, renamed).toBeDefined();
      expect(u!.dtype).toBe(t.dtype);
      expect(Buffer.compare(Buffer.from(u!.bytes), Buffer.from(t.bytes)), name).toBe(0);
    }
    expect([...a.tensors.values()].some((t) => t.dtype === 'int64')).toBe(true);
  });

  it('refuses to overwrite OUT without --force, and bad arguments are usage errors', async () => {
    const src = `${PTH}fp16-state-dict/checkpoint.pth`;
    const out = join(dir, 'f.safetensors');
    expect(await convertCommand.run([src, out])).toBe(0);
    await expect(convertCommand.run([src, out])).rejects.toThrow(/exists; pass overwrite \(--force\)/);
    expect(await convertCommand.run([src, out, '--force'])).toBe(0);
    await expect(convertCommand.run([src])).rejects.toThrow(UsageError);
    await expect(convertCommand.run([src, join(dir, 'x.weird')])).rejects.toThrow(/cannot tell the weights format/);
    expect(existsSync(join(dir, 'x.weird'))).toBe(false);
  });

  it('--list prints names, dtypes, shapes and the parameter count without BatchNorm statistics', async () => {
    logs = [];
    expect(await convertCommand.run(['--list', `${PTH}fp16-state-dict/checkpoint.pth`])).toBe(0);
    const text = logs.join('\n');
    expect(text).toMatch(/patch_embed\.proj\.weight\s+float16\s+\[16, 3, 4, 4\]/);
    expect(text).toMatch(/patch_embed\.norm\.num_batches_tracked\s+int64\s+\[\]/);
    expect(text).toMatch(/177 tensors \(\d+ float16, \d+ int64\)/);
    logs = [];
    expect(await convertCommand.run(['--list', '--json', `${PTH}mmdet-checkpoint/checkpoint.pth`])).toBe(0);
    const json = JSON.parse(logs.join('\n')) as { entry: string; otherEntries: string[]; parameterCount: number; elementCount: number; rows: { name: string; numel: number }[] };
    expect(json.entry).toBe('state_dict');
    expect(json.otherEntries).toEqual(['meta']);
    const expected = json.rows.filter((r) => !/running_(mean|var)|num_batches_tracked/.test(r.name)).reduce((s, r) => s + r.numel, 0);
    expect(json.parameterCount).toBe(expected);
    expect(json.elementCount).toBeGreaterThan(json.parameterCount);
  });
});
