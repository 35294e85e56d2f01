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

/**
 * Writes `<root>/checkpoints/iter_XXXXXXX/{model,optimizer}.safetensors + state.json`, then points
 * `<root>/checkpoints/latest.json` at it. Each step writes a temporary name and renames it, so an
 * interrupted write never leaves a half checkpoint that `--resume` would pick up.
 */
export async function saveCheckpoint(root: string, model: StateDict, optimizer: StateDict, state: TrainingState, keep = 3): Promise<string> {
  const base = join(root, 'checkpoints');
  await mkdir(base, { recursive: true });
  const name = checkpointName(state.iter);
  const final = join(base, name);
  const tmp = join(base, `.${name}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  await saveSafetensors(model, join(tmp, 'model.safetensors'), { format: 'pt' });
  await saveSafetensors(optimizer, join(tmp, 'optimizer.safetensors'));
  await writeFile(join(tmp, 'state.json'), JSON.stringify(state, null, 2));
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  const latestTmp = join(base, `.${LATEST}.tmp-${process.pid}`);
  await writeFile(latestTmp, JSON.stringify({ checkpoint: name, iter: state.iter }));
  await rename(latestTmp, join(base, LATEST));
  await pruneCheckpoints(base, keep, name);
  return final;
}

async function pruneCheckpoints(base: string, keep: number, current: string): Promise<void> {
  if (keep <= 0) return;
  const names = (await readdir(base)).filter((n) => /^iter_\d+$/.test(n)).sort();
  for (const old of names.slice(0, Math.max(0, names.length - keep))) {
    if (old !== current) await rm(join(base, old), { recursive: true, force: true });
  }
}

/** The newest complete checkpoint under `root`, or undefined when the run has none. */
export async function findLatestCheckpoint(root: string): Promise<string | undefined> {
  const base = join(root, 'checkpoints');
  const latest = join(base, LATEST);
  if (!existsSync(latest)) return undefined;
  let pointer: { checkpoint?: unknown };
  try {
    pointer = JSON.parse(await readFile(latest, 'utf8')) as { checkpoint?: unknown };
  } catch (err) {
    throw new Error(`${latest}: unreadable checkpoint pointer (${(err as Error).message})`);
  }
  if (typeof pointer.checkpoint !== 'string') throw new Error(`${latest}: field 'checkpoint': expected a folder name`);
  const dir = join(base, pointer.checkpoint);
  if (!existsSync(join(dir, 'state.json'))) throw new Error(`${latest} points at ${dir}, which has no state.json`);
  return dir;
}

/** Reads a checkpoint folder written by saveCheckpoint. */
export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
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
  const optimizer = existsSync(optimizerPath) ? await loadSafetensors(optimizerPath) : new Map();
  return { dir, model, optimizer, state: { ...state, extra: state.extra ?? {} } };
}
