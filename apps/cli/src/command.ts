/** One verb of the `partialnet` command line (e.g. `info`, `bench backbone`, `eval coco`). */
export interface Command {
  /** Words that select the command, space-separated: `'eval coco'`. */
  readonly name: string;
  /** One line for `partialnet help`. */
  readonly summary: string;
  /** Full usage text printed by `partialnet <name> --help` and on bad arguments. */
  readonly usage: string;
  /** Runs with the arguments after the command words; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** Thrown for bad command-line input: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
