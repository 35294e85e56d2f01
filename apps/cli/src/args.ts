import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseBackendName, parseThreads, setThreads, type BackendName } from '@partialnet/core';
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

/**
 * Takes the global `--threads N` (or `--threads=N`) out of a command's arguments and applies it:
 * threads for the CPU backends, every command, before any backend starts.
 */
export function takeThreadsFlag(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    let value: string | undefined;
    if (a === '--threads') {
      value = argv[++i];
      if (value === undefined) throw new UsageError("--threads: expected a number of threads or 'all'");
    } else if (a.startsWith('--threads=')) value = a.slice('--threads='.length);
    else {
      out.push(a);
      continue;
    }
    try {
      setThreads(parseThreads(value, '--threads'));
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
  }
  return out;
}
