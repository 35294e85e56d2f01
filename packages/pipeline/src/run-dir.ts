import { existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface PrepareRunDirOptions {
  /** Continue the run in the folder (it may hold anything of that run). */
  resume?: boolean;
  /** Delete what the folder holds and start a new run there (the user asked for it). */
  overwrite?: boolean;
}

/**
 * The rule every training command follows: a new run never trains into a folder that already holds
 * something, because its checkpoints, results and logs would mix with (and replace) the old run's.
 * `resume` continues the run there; `overwrite` empties the folder first.
 */
export async function prepareRunDir(outDir: string, o: PrepareRunDirOptions = {}): Promise<void> {
  if (o.resume || !existsSync(outDir)) return;
  const entries = readdirSync(outDir);
  if (entries.length === 0) return;
  if (!o.overwrite) {
    const shown = entries.slice(0, 5).join(', ') + (entries.length > 5 ? `, ... (${entries.length} entries)` : '');
    throw new Error(
      `${outDir}: the run folder is not empty (${shown}). Continue that run with --resume, delete it with --overwrite, or choose another --out`,
    );
  }
  await Promise.all(entries.map((e) => rm(join(outDir, e), { recursive: true, force: true })));
}
