import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/command.js';
import { configOverrides, defineCommand, parseOptions } from '../src/options.js';
import { commands } from '../src/registry.js';
import { trainCommand } from '../src/commands/train.js';
import { dataSynthCommand } from '../src/commands/data-synth.js';

const specs = {
  out: { type: 'string', arg: 'DIR', required: true, help: 'output' },
  batch: { type: 'integer', default: 2, min: 1, help: 'batch', config: 'batchSize' },
  lr: { type: 'number', above: 0, help: 'lr', config: 'lr' },
  frac: { type: 'number', default: 0.2, min: 0, below: 1, help: 'fraction' },
  scale: { type: 'integers', count: 2, min: 32, help: 'scale' },
  size: { type: 'size', default: [64, 48], min: 16, help: 'size' },
  mode: { type: 'string', choices: ['a', 'b'], help: 'mode' },
  shift: { type: 'number', help: 'may be negative' },
  quiet: { type: 'boolean', help: 'quiet' },
} as const;

const error = (argv: string[]): string => {
  try {
    parseOptions(argv, specs);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
};

describe('declarative options', () => {
  it('converts, fills defaults and leaves unset options undefined', () => {
    const { values } = parseOptions(['--out', 'x', '--lr', '1e-3', '--scale', '640,480', '--size', '32x40', '--quiet', '--mode', 'B'], specs);
    expect(values).toEqual({ out: 'x', batch: 2, lr: 1e-3, frac: 0.2, scale: [640, 480], size: [32, 40], mode: 'b', shift: undefined, quiet: true });
  });

  it('--batch -3 says what --batch=-3 says; negative values are values', () => {
    const spaced = error(['--out', 'x', '--batch', '-3']);
    expect(spaced).toBe("--batch: expected an integer >= 1, got '-3'");
    expect(error(['--out', 'x', '--batch=-3'])).toBe(spaced);
    expect(parseOptions(['--out', 'x', '--shift', '-0.5'], specs).values.shift).toBe(-0.5);
  });

  it('names the flag and what it expects for every kind of bad value', () => {
    expect(error(['--batch', '2'])).toBe('--out DIR is required');
    expect(error(['--out', 'x', '--batch', '2.5'])).toMatch(/--batch: expected an integer >= 1, got '2.5'/);
    expect(error(['--out', 'x', '--lr', 'fast'])).toMatch(/--lr: expected a number > 0, got 'fast'/);
    expect(error(['--out', 'x', '--frac', '1'])).toMatch(/--frac: expected a number >= 0 and < 1, got '1'/);
    expect(error(['--out', 'x', '--scale', '640'])).toMatch(/--scale: expected 2 comma-separated values, each an integer >= 32, got '640'/);
    expect(error(['--out', 'x', '--size', '8x8'])).toMatch(/--size: at least 16x16/);
    expect(error(['--out', 'x', '--mode', 'c'])).toMatch(/--mode: expected one of a, b, got 'c'/);
    expect(error(['--out', 'x', '--nope'])).toMatch(/Unknown option '--nope'/);
  });

  it('maps flags to run-config fields', () => {
    const { values } = parseOptions(['--out', 'x', '--lr', '0.01'], specs);
    expect(configOverrides(specs, values)).toEqual({ batchSize: 2, lr: 0.01 });
    const train = parseOptions(['--batch', '4', '--scale', '512,512', '--bn', 'frozen'], trainCommand.options).values;
    expect(configOverrides(trainCommand.options, train)).toEqual({ batchSize: 4, scale: [512, 512], bnMode: 'frozen' });
  });

  it('derives the usage text from the declarations', () => {
    const cmd = defineCommand({ name: 'demo', summary: 's', description: 'Does things.', options: specs, run: async () => 0 });
    expect(cmd.usage).toMatch(/^usage: partialnet demo --out DIR \[options\]\n\nDoes things\.\n\noptions:\n/);
    expect(cmd.usage).toMatch(/--batch N +batch \(default 2; an integer >= 1; config 'batchSize'\)/);
    expect(cmd.usage).toMatch(/--mode a\|b +mode/);
  });

  it("every command's usage lists each of its options, and bad numbers are usage errors", async () => {
    for (const c of commands) {
      const options = (c as { options?: Record<string, unknown> }).options;
      if (!options) continue;
      for (const name of Object.keys(options)) expect(c.usage, `${c.name} --${name}`).toContain(`--${name}`);
    }
    await expect(dataSynthCommand.run(['--out', 'x', '--images', '-3'])).rejects.toThrow("--images: expected an integer >= 1, got '-3'");
  });
});
