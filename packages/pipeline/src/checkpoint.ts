import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { findLatestCheckpoint, loadSafetensors, type TrainingState } from '@partialnet/core';
import { createDetector } from '@partialnet/detection';
import type { AnyDetector } from './build.js';
import { parseRunInfo, type DetectionRunInfo } from './run-info.js';

export type { DetectionRunInfo } from './run-info.js';

export interface OpenedCheckpoint {
  /** The checkpoint folder (`<run>/checkpoints/iter_N`). */
  dir: string;
  /** The run folder (where results and pictures go). */
  runDir: string;
  iter: number;
  info: DetectionRunInfo;
  /** The rebuilt model with the checkpoint's weights, in inference mode. */
  model: AnyDetector;
}

/** The checkpoint a path names: a run folder (its latest checkpoint) or a checkpoint folder. */
export async function resolveCheckpointDir(path: string): Promise<{ dir: string; runDir: string }> {
  if (!existsSync(path)) throw new Error(`${path}: no such run or checkpoint folder`);
  const latest = await findLatestCheckpoint(path);
  if (latest) return { dir: latest, runDir: path };
  if (existsSync(join(path, 'state.json'))) {
    const parent = dirname(path);
    return { dir: path, runDir: basename(parent) === 'checkpoints' ? dirname(parent) : parent };
  }
  throw new Error(`${path}: not a run folder (no checkpoints/latest.json) nor a checkpoint folder (no state.json)`);
}

/** The training state of a checkpoint folder and its detection run info (checked), without the weights. */
export async function readRunInfo(dir: string): Promise<{ state: TrainingState; info: DetectionRunInfo }> {
  const where = join(dir, 'state.json');
  let state: unknown;
  try {
    state = JSON.parse(await readFile(where, 'utf8'));
  } catch (err) {
    throw new Error(`${where}: cannot read the training state (${(err as Error).message})`);
  }
  return parseRunInfo(state, where);
}

/** Reads a detection checkpoint: the run's config from `state.json`, the model rebuilt from it with its weights. */
export async function openDetectionCheckpoint(path: string): Promise<OpenedCheckpoint> {
  const { dir, runDir } = await resolveCheckpointDir(path);
  const { state, info } = await readRunInfo(dir);
  // Only the weights: the optimizer state (twice their size) is of no use for inference.
  const weights = await loadSafetensors(join(dir, 'model.safetensors'));
  const model = createDetector(info.config.model);
  try {
    model.loadStateDict(weights, { label: `${info.config.preset ?? info.config.model.kind} from ${dir}` });
  } catch (err) {
    model.dispose();
    throw err;
  }
  model.eval();
  return { dir, runDir, iter: state.iter, info, model };
}
