import { existsSync, join, mkdir, readFile, readdir, rename, rm, writeFile } from '#platform';
import type { StateDict } from '../host-tensor.js';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.js';

/** Where a run stands: enough to continue it exactly. */
export interface TrainingState {
  /** Optimizer steps done. */
  iter: number;
  /** Current epoch (0-based) and batches of it already consumed. */
  epoch: number;
  batchInEpoch: number;
  /** The library random stream (see random.ts). */
  randomState: number;
  /** Anything else the caller wants back on resume (config, schedule, seeds, best metric...). */
  extra: Record<string, unknown>;
}

export interface Checkpoint {
  dir: string;
  model: StateDict;
  optimizer: StateDict;
  state: TrainingState;
}

const LATEST = 'latest.json';

function checkpointName(iter: number): string {
  return `iter_${String(iter).padStart(7, '0')}`;
}

const CHECKPOINT_NAME = /^iter_\d+$/;
/** Folders a writer is filling (`.iter_N.tmp-PID`) or an older copy set aside (`.iter_N.old-PID`). */
const WORK_NAME = /^\.(iter_\d+)\.(tmp|old)-(\d+)$/;

/**
 * Whether another process that may still be writing owns a work folder. This process's own are
 * leftovers of a save that failed: saves are awaited one after the other, never concurrent.
 */
function otherWriterAlive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Tidies what killed writers left in `<root>/checkpoints`: an older copy set aside whose
 * replacement never arrived is put back; temporary folders of writers that are gone are removed.
 * Returns what it did, for the caller to report.
 */
export async function recoverCheckpoints(base: string): Promise<string[]> {
  if (!existsSync(base)) return [];
  const done: string[] = [];
  for (const entry of (await readdir(base)).sort()) {
    const m = WORK_NAME.exec(entry);
    if (!m || otherWriterAlive(Number(m[3]))) continue;
    const [, name, kind] = m;
    if (kind === 'old' && !existsSync(join(base, name!))) {
      await rename(join(base, entry), join(base, name!));
      done.push(`restored ${name} from ${entry}`);
    } else {
      await rm(join(base, entry), { recursive: true, force: true });
      done.push(`removed ${entry} (left by an interrupted write)`);
    }
  }
  return done;
}

/**
 * Writes `<root>/checkpoints/iter_XXXXXXX/{model,optimizer}.safetensors + state.json`, then points
 * `<root>/checkpoints/latest.json` at it. The new copy is written under a temporary name; an
 * existing copy of the same iteration is renamed aside, the new one renamed in, and only then is the
 * old one deleted, so at every moment a complete copy is on disk (`recoverCheckpoints` puts an
 * aside copy back if a kill came between the two renames).
 */
export async function saveCheckpoint(root: string, model: StateDict, optimizer: StateDict, state: TrainingState, keep = 3): Promise<string> {
  const base = join(root, 'checkpoints');
  await mkdir(base, { recursive: true });
  await recoverCheckpoints(base);
  const name = checkpointName(state.iter);
  const final = join(base, name);
  const tmp = join(base, `.${name}.tmp-${process.pid}`);
  const aside = join(base, `.${name}.old-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  await saveSafetensors(model, join(tmp, 'model.safetensors'), { format: 'pt' });
  await saveSafetensors(optimizer, join(tmp, 'optimizer.safetensors'));
  // state.json last: a folder with it is complete.
  await writeFile(join(tmp, 'state.json'), JSON.stringify(state, null, 2));
  const replacing = existsSync(final);
  if (replacing) {
    await rm(aside, { recursive: true, force: true });
    await rename(final, aside);
  }
  await rename(tmp, final);
  const latestTmp = join(base, `.${LATEST}.tmp-${process.pid}`);
  await writeFile(latestTmp, JSON.stringify({ checkpoint: name, iter: state.iter }));
  await rename(latestTmp, join(base, LATEST));
  if (replacing) await rm(aside, { recursive: true, force: true });
  await pruneCheckpoints(base, keep, name);
  return final;
}

async function pruneCheckpoints(base: string, keep: number, current: string): Promise<void> {
  if (keep <= 0) return;
  const names = (await readdir(base)).filter((n) => CHECKPOINT_NAME.test(n)).sort();
  for (const old of names.slice(0, Math.max(0, names.length - keep))) {
    if (old !== current) await rm(join(base, old), { recursive: true, force: true });
  }
}

const isComplete = (dir: string): boolean => existsSync(join(dir, 'state.json')) && existsSync(join(dir, 'model.safetensors'));

export interface FindCheckpointOptions {
  /** Told when latest.json is broken and another checkpoint is used, or leftovers were tidied (default: console.warn). */
  warn?: (message: string) => void;
}

/**
 * The newest complete checkpoint under `root`, or undefined when the run has none. When
 * `latest.json` is unreadable or names a folder that is not complete (a write was killed), the
 * newest complete `iter_N` folder is used instead and `warn` says so.
 */
export async function findLatestCheckpoint(root: string, options: FindCheckpointOptions = {}): Promise<string | undefined> {
  const warn = options.warn ?? ((m: string) => console.warn(m));
  const base = join(root, 'checkpoints');
  const latest = join(base, LATEST);
  if (!existsSync(base)) return undefined;
  for (const m of await recoverCheckpoints(base)) warn(`${base}: ${m}`);
  let problem: string | undefined;
  if (existsSync(latest)) {
    try {
      const pointer = JSON.parse(await readFile(latest, 'utf8')) as { checkpoint?: unknown };
      if (typeof pointer.checkpoint !== 'string' || !CHECKPOINT_NAME.test(pointer.checkpoint)) problem = `field 'checkpoint': expected a folder name iter_N, got ${JSON.stringify(pointer.checkpoint)}`;
      else if (isComplete(join(base, pointer.checkpoint))) return join(base, pointer.checkpoint);
      else problem = `points at ${join(base, pointer.checkpoint)}, which is not a complete checkpoint (no state.json or model.safetensors)`;
    } catch (err) {
      problem = `unreadable (${(err as Error).message})`;
    }
  }
  const complete = (await readdir(base)).filter((n) => CHECKPOINT_NAME.test(n) && isComplete(join(base, n))).sort();
  const newest = complete[complete.length - 1];
  if (!newest) {
    if (problem) throw new Error(`${latest}: ${problem}, and ${base} holds no complete checkpoint`);
    return undefined;
  }
  warn(`${latest}: ${problem ?? 'missing'}; using the newest complete checkpoint, ${join(base, newest)}`);
  return join(base, newest);
}

export interface LoadCheckpointOptions {
  /**
   * `require` (default): a missing optimizer.safetensors is an error, because resuming without it
   * would silently restart the optimizer's moments; `reset`: missing means an empty optimizer state
   * (the caller asked for it); `skip`: do not read it (inference).
   */
  optimizer?: 'require' | 'reset' | 'skip';
}

/** Reads a checkpoint folder written by saveCheckpoint. */
export async function loadCheckpoint(dir: string, options: LoadCheckpointOptions = {}): Promise<Checkpoint> {
  const statePath = join(dir, 'state.json');
  let state: TrainingState;
  try {
    state = JSON.parse(await readFile(statePath, 'utf8')) as TrainingState;
  } catch (err) {
    throw new Error(`${statePath}: cannot read the training state (${(err as Error).message})`);
  }
  for (const field of ['iter', 'epoch', 'batchInEpoch', 'randomState'] as const) {
    if (!Number.isInteger(state[field])) throw new Error(`${statePath}: field '${field}': expected an integer, got ${JSON.stringify(state[field])}`);
  }
  const model = await loadSafetensors(join(dir, 'model.safetensors'));
  const optimizerPath = join(dir, 'optimizer.safetensors');
  const mode = options.optimizer ?? 'require';
  let optimizer: StateDict = new Map();
  if (mode !== 'skip') {
    if (existsSync(optimizerPath)) optimizer = await loadSafetensors(optimizerPath);
    else if (mode === 'require') {
      throw new Error(
        `${optimizerPath}: missing. Resuming without it would restart the optimizer's state (Adam's moments, momentum) without a word; ` +
          `restore the file, or pass --reset-optimizer to continue with a fresh optimizer state on purpose`,
      );
    }
  }
  return { dir, model, optimizer, state: { ...state, extra: state.extra ?? {} } };
}
