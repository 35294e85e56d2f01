// core's thread setting alone (the same module core's backends read), without loading tfjs
import { parseThreads, setThreads } from '@partialnet/core/threads';
import { UsageError, type Command } from './command.js';

/**
 * Whether `--threads` is left to the command: commands that run ONNX Runtime (eval, predict,
 * eval-cls, the benchmarks) declare their own `--threads` for its intra-op threads.
 */
export function commandOwnsThreads(command: Command): boolean {
  const options = (command as { options?: Record<string, unknown> }).options;
  return options !== undefined && 'threads' in options;
}

/**
 * Takes the global `--threads N|all` (or `--threads=N`) out of a command's arguments and applies it
 * (setThreads: threads for the CPU backends), before any backend starts.
 */
export function takeThreadsFlag(argv: readonly string[]): string[] {
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
