import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseBackendName, type BackendName } from '@partialnet/core';
import { UsageError } from './command.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** `util.parseArgs` that reports unknown or malformed flags as a UsageError. */
export function parseCommandArgs<O extends Options>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** Parses a flag value as a number, naming the flag when it is not one. */
export function numberFlag(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name}: expected a number, got '${value}'`);
  return n;
}

/** Parses a comma-separated list of numbers (`--batch 1,16`). */
export function numberListFlag(name: string, value: string | undefined, fallback: number[]): number[] {
  if (value === undefined) return fallback;
  return value.split(',').map((part) => numberFlag(name, part.trim(), NaN));
}

/** Parses `--backend`; undefined leaves the choice to PARTIALNET_BACKEND or auto. */
export function backendFlag(value: string | undefined): BackendName | 'auto' | undefined {
  if (value === undefined) return undefined;
  try {
    return parseBackendName(value);
  } catch (err) {
    throw new UsageError(`--backend: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The flags of commands that can run on ONNX Runtime (declare them with `RUNTIME_OPTIONS`). */
export const RUNTIME_OPTIONS = {
  runtime: { type: 'string', default: 'tfjs' },
  onnx: { type: 'string' },
  threads: { type: 'string' },
  provider: { type: 'string', default: 'auto' },
} as const;

export const RUNTIME_USAGE = `[--runtime tfjs|onnx] [--onnx M.onnx] [--threads N] [--provider auto|cpu|cuda]`;

export interface RuntimeFlags {
  runtime: 'tfjs' | 'onnx';
  onnxFile?: string;
  threads?: number;
  provider: 'auto' | 'cpu' | 'cuda';
}

/** Checks --runtime / --onnx / --threads / --provider. */
export function runtimeFlags(values: { runtime?: string; onnx?: string; threads?: string; provider?: string }): RuntimeFlags {
  const runtime = values.runtime ?? 'tfjs';
  if (runtime !== 'tfjs' && runtime !== 'onnx') throw new UsageError(`--runtime: expected tfjs or onnx, got '${runtime}'`);
  const provider = values.provider ?? 'auto';
  if (provider !== 'auto' && provider !== 'cpu' && provider !== 'cuda') throw new UsageError(`--provider: expected auto, cpu or cuda, got '${provider}'`);
  if (runtime === 'tfjs' && (values.onnx || values.threads)) throw new UsageError('--onnx and --threads need --runtime onnx');
  const threads = values.threads === undefined ? undefined : numberFlag('threads', values.threads, 0);
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new UsageError(`--threads: expected a positive integer, got '${values.threads}'`);
  return { runtime, provider, ...(values.onnx ? { onnxFile: values.onnx } : {}), ...(threads !== undefined ? { threads } : {}) };
}
