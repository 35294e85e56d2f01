/**
 * Declarative command-line options: each command declares its options once (type, default, range
 * or choices, help, and for `train` the run-config field it sets); parsing (Node's util.parseArgs),
 * validation, the usage text and the config overrides are derived from that declaration.
 */
import { parseArgs } from 'node:util';
// the names only, not core's index: commands without a tensor runtime (eval coco) start without tfjs
import { BACKEND_NAMES, parseBackendName, type BackendName } from '@partialnet/core/backend-names';
import { UsageError, type Command } from './command.js';

interface BaseOption {
  /** One line for the options list. */
  help: string;
  /** Placeholder of the value in the usage text (`DIR`, `N`); derived from the type when absent. */
  arg?: string;
  /** Must be given (checked after `--help`, so help always works). */
  required?: boolean;
  /** The run-config field this flag overrides (`configOverrides`). */
  config?: string;
}
export interface StringOption extends BaseOption {
  type: 'string';
  default?: string;
  choices?: readonly string[];
}
export interface BooleanOption extends BaseOption {
  type: 'boolean';
}
export interface NumberOption extends BaseOption {
  /** 'integer' rejects fractions. */
  type: 'number' | 'integer';
  default?: number;
  /** Inclusive bounds. */
  min?: number;
  max?: number;
  /** Exclusive bounds. */
  above?: number;
  below?: number;
}
export interface ListOption extends BaseOption {
  /** Comma-separated numbers (`1,16`); 'integers' rejects fractions. */
  type: 'numbers' | 'integers';
  default?: readonly number[];
  /** Bounds of every element: inclusive (min, max) and exclusive (above, below). */
  min?: number;
  max?: number;
  above?: number;
  below?: number;
  /** Exact number of elements. */
  count?: number;
}
export interface SizeOption extends BaseOption {
  /** `WxH`, e.g. 256x192, as [width, height]. */
  type: 'size';
  default?: readonly [number, number];
  /** Smallest width and height. */
  min?: number;
}
export interface BackendOption extends BaseOption {
  /** A backend name or auto; absent leaves the choice to PARTIALNET_BACKEND or auto. */
  type: 'backend';
}
export type OptionSpec = StringOption | BooleanOption | NumberOption | ListOption | SizeOption | BackendOption;
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

type ValueOf<S extends OptionSpec> = S extends BooleanOption
  ? boolean
  : S extends NumberOption
    ? number
    : S extends ListOption
      ? number[]
      : S extends SizeOption
        ? [number, number]
        : S extends BackendOption
          ? BackendName | 'auto'
          : S extends { choices: readonly (infer C extends string)[] }
            ? C
            : string;
type Always<S> = S extends BooleanOption ? true : S extends { required: true } ? true : S extends { default: unknown } ? true : false;

/** Parsed, validated values: options with a default, required ones and switches are never undefined. */
export type OptionValues<O extends OptionSpecs> = { -readonly [K in keyof O]: Always<O[K]> extends true ? ValueOf<O[K]> : ValueOf<O[K]> | undefined };

/** Options most commands share. */
export const BACKEND_OPTION = { type: 'backend', help: 'compute backend (default: PARTIALNET_BACKEND, else the best available)' } as const satisfies BackendOption;
export const NO_PROGRESS_OPTION = { type: 'boolean', help: 'no progress bars on stderr' } as const satisfies BooleanOption;

const NEGATIVE_NUMBER = /^-(\d|\.\d)/;

function placeholder(spec: OptionSpec): string {
  if (spec.arg) return spec.arg;
  switch (spec.type) {
    case 'string':
      return spec.choices ? spec.choices.join('|') : 'VALUE';
    case 'number':
      return 'X';
    case 'integer':
      return 'N';
    case 'numbers':
    case 'integers':
      return spec.count === 2 ? 'A,B' : 'A,B,...';
    case 'size':
      return 'WxH';
    case 'backend':
      return `auto|${BACKEND_NAMES.join('|')}`;
    default:
      return '';
  }
}

/** 'an integer >= 1', 'a number in [0, 1)', ... for messages and help. */
function expectation(spec: NumberOption | ListOption, element = false): string {
  const kind = spec.type === 'integer' || spec.type === 'integers' ? 'an integer' : 'a number';
  const lo = spec.min !== undefined ? `>= ${spec.min}` : 'above' in spec && spec.above !== undefined ? `> ${spec.above}` : undefined;
  const hi = spec.max !== undefined ? `<= ${spec.max}` : 'below' in spec && spec.below !== undefined ? `< ${spec.below}` : undefined;
  const range = [lo, hi].filter(Boolean).join(' and ');
  const one = range ? `${kind} ${range}` : kind;
  if (element || (spec.type !== 'numbers' && spec.type !== 'integers')) return one;
  const n = spec.count !== undefined ? `${spec.count} comma-separated values` : 'comma-separated values';
  return `${n}, each ${one}`;
}

function parseNumber(name: string, spec: NumberOption | ListOption, text: string, whole: string): number {
  const v = text.trim() === '' ? NaN : Number(text);
  const integer = spec.type === 'integer' || spec.type === 'integers';
  const ok =
    Number.isFinite(v) &&
    (!integer || Number.isInteger(v)) &&
    (spec.min === undefined || v >= spec.min) &&
    (spec.max === undefined || v <= spec.max) &&
    (!('above' in spec) || spec.above === undefined || v > spec.above) &&
    (!('below' in spec) || spec.below === undefined || v < spec.below);
  if (!ok) throw new UsageError(`--${name}: expected ${expectation(spec)}, got '${whole}'`);
  return v;
}

function convert(name: string, spec: OptionSpec, raw: string): unknown {
  switch (spec.type) {
    case 'string':
      if (!spec.choices) return raw;
      {
        // Choices match in any case (`--variant T0`) and come back as declared.
        const hit = spec.choices.find((c) => c.toLowerCase() === raw.trim().toLowerCase());
        if (hit === undefined) throw new UsageError(`--${name}: expected one of ${spec.choices.join(', ')}, got '${raw}'`);
        return hit;
      }
    case 'number':
    case 'integer':
      return parseNumber(name, spec, raw, raw);
    case 'numbers':
    case 'integers': {
      const parts = raw.split(',').map((p) => parseNumber(name, spec, p, raw));
      if (spec.count !== undefined && parts.length !== spec.count) throw new UsageError(`--${name}: expected ${expectation(spec)}, got '${raw}'`);
      return parts;
    }
    case 'size': {
      const m = /^(\d+)x(\d+)$/i.exec(raw.trim());
      if (!m) throw new UsageError(`--${name}: expected WxH such as 256x256, got '${raw}'`);
      const size = [Number(m[1]), Number(m[2])] as [number, number];
      if (spec.min !== undefined && (size[0] < spec.min || size[1] < spec.min)) throw new UsageError(`--${name}: at least ${spec.min}x${spec.min}, got '${raw}'`);
      return size;
    }
    case 'backend':
      try {
        return parseBackendName(raw);
      } catch (err) {
        throw new UsageError(`--${name}: ${(err as Error).message}`);
      }
    default:
      return raw;
  }
}

/**
 * Joins `--name -3` into `--name=-3` for options that take a value, so a negative number reads as
 * the value (util.parseArgs would take it for a flag) and gets the same checks as `--name=-3`.
 */
function joinNegativeValues(argv: readonly string[], specs: OptionSpecs): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const spec = a.startsWith('--') && !a.includes('=') ? specs[a.slice(2)] : undefined;
    if (spec && spec.type !== 'boolean' && i + 1 < argv.length && NEGATIVE_NUMBER.test(argv[i + 1]!)) {
      out.push(`${a}=${argv[++i]}`);
    } else {
      out.push(a);
    }
  }
  return out;
}

/** Parses and validates argv against the declared options; unknown or malformed flags are UsageErrors. */
export function parseOptions<const O extends OptionSpecs>(argv: readonly string[], specs: O, allowPositionals = false): { values: OptionValues<O>; positionals: string[] } {
  const config = Object.fromEntries(Object.entries(specs).map(([name, s]) => [name, { type: s.type === 'boolean' ? ('boolean' as const) : ('string' as const) }]));
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: joinNegativeValues(argv, specs), options: config, allowPositionals, strict: true }) as typeof parsed;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = parsed.values[name];
    if (spec.type === 'boolean') values[name] = raw === true;
    else if (raw === undefined) {
      if (spec.required) throw new UsageError(`--${name} ${placeholder(spec)} is required`);
      values[name] = 'default' in spec && spec.default !== undefined ? (Array.isArray(spec.default) ? [...spec.default] : spec.default) : undefined;
    } else values[name] = convert(name, spec, raw as string);
  }
  return { values: values as OptionValues<O>, positionals: parsed.positionals };
}

/**
 * The run-config fields set by the given flags: every option with a `config` key whose value was
 * given (or has a default) lands under that key.
 */
export function configOverrides<O extends OptionSpecs>(specs: O, values: OptionValues<O>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const v = (values as Record<string, unknown>)[name];
    if (spec.config && v !== undefined) out[spec.config] = v;
  }
  return out;
}

function defaultText(spec: OptionSpec): string | undefined {
  if (!('default' in spec) || spec.default === undefined) return undefined;
  if (spec.type === 'size') return `${spec.default[0]}x${spec.default[1]}`;
  if (Array.isArray(spec.default)) return spec.default.join(',');
  return String(spec.default);
}

/** The options list of a usage text, one option per line with its help, default and range. */
export function formatOptions(specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const flag = spec.type === 'boolean' ? `--${name}` : `--${name} ${placeholder(spec)}`;
    const notes: string[] = [];
    if (spec.required) notes.push('required');
    const d = defaultText(spec);
    if (d !== undefined) notes.push(`default ${d}`);
    if ((spec.type === 'number' || spec.type === 'integer' || spec.type === 'numbers' || spec.type === 'integers') && (spec.min !== undefined || spec.max !== undefined || ('above' in spec && spec.above !== undefined) || ('below' in spec && spec.below !== undefined) || spec.type.startsWith('integer'))) {
      notes.push(expectation(spec));
    }
    if (spec.config) notes.push(`config '${spec.config}'`);
    return { flag, text: notes.length > 0 ? `${spec.help} (${notes.join('; ')})` : spec.help };
  });
  const width = Math.min(Math.max(...rows.map((r) => r.flag.length)), 34);
  return rows.map((r) => (r.flag.length > width ? `  ${r.flag}\n  ${' '.repeat(width)}  ${r.text}` : `  ${r.flag.padEnd(width)}  ${r.text}`)).join('\n');
}

export interface CommandDefinition<O extends OptionSpecs> {
  name: string;
  summary: string;
  /** What follows `partialnet <name>` in the usage line; by default the required options and `[options]`. */
  synopsis?: string | readonly string[];
  /** Paragraphs after the usage line. */
  description?: string;
  options: O;
  /** Accept positional arguments (e.g. image paths). */
  positionals?: boolean;
  run(values: OptionValues<O>, positionals: string[]): Promise<number>;
}

/** A Command whose parsing, checks and usage text come from its option declarations. */
export function defineCommand<const O extends OptionSpecs>(def: CommandDefinition<O>): Command & { readonly options: O } {
  const required = Object.entries(def.options)
    .filter(([, s]) => s.required)
    .map(([n, s]) => `--${n} ${placeholder(s)}`);
  const synopses = def.synopsis === undefined ? [[...required, '[options]'].join(' ')] : typeof def.synopsis === 'string' ? [def.synopsis] : def.synopsis;
  const lines = synopses.map((s, i) => `${i === 0 ? 'usage:' : '      '} partialnet ${def.name} ${s}`);
  const usage = [lines.join('\n'), def.description?.trim(), `options:\n${formatOptions(def.options)}`].filter(Boolean).join('\n\n');
  return {
    name: def.name,
    summary: def.summary,
    usage,
    options: def.options,
    async run(argv) {
      const { values, positionals } = parseOptions(argv, def.options, def.positionals ?? false);
      return def.run(values, positionals);
    },
  };
}

/** Options of commands that can run a model on ONNX Runtime instead of tfjs. */
export const RUNTIME_OPTIONS = {
  runtime: { type: 'string', default: 'tfjs', choices: ['tfjs', 'onnx'], help: 'inference runtime: tfjs, or ONNX Runtime (onnxruntime-node, optional dependency)' },
  onnx: { type: 'string', arg: 'M.onnx', help: "with --runtime onnx: a model from 'partialnet export onnx' (default: exported in memory)" },
  threads: { type: 'integer', min: 1, help: 'with --runtime onnx: intra-op threads (default: the number of cores)' },
  provider: { type: 'string', default: 'auto', choices: ['auto', 'cpu', 'cuda'], help: 'with --runtime onnx: execution provider (auto: CUDA where it loads, else CPU)' },
} as const satisfies OptionSpecs;

/** The runtime choice from RUNTIME_OPTIONS' values; --onnx / --threads without --runtime onnx are errors. */
export function runtimeChoice(values: { runtime: string; onnx: string | undefined; threads: number | undefined; provider: string }): {
  runtime: 'tfjs' | 'onnx';
  onnxFile?: string;
  threads?: number;
  provider: 'auto' | 'cpu' | 'cuda';
} {
  if (values.runtime === 'tfjs' && (values.onnx !== undefined || values.threads !== undefined)) throw new UsageError('--onnx and --threads need --runtime onnx');
  return {
    runtime: values.runtime as 'tfjs' | 'onnx',
    provider: values.provider as 'auto' | 'cpu' | 'cuda',
    ...(values.onnx !== undefined ? { onnxFile: values.onnx } : {}),
    ...(values.threads !== undefined ? { threads: values.threads } : {}),
  };
}
