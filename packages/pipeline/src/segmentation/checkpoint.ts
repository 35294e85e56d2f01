import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadSafetensors, type TrainingState } from '@partialnet/core';
import { createSegmenter } from '@partialnet/segmentation';
import type { SemanticFPN } from '@partialnet/segmentation';
import type { ResolvedSegRunConfig } from './run-config.js';
import { resolveCheckpointDir } from '../checkpoint.js';

/** What a segmentation run saves in every checkpoint's `state.json` (`extra`). */
export interface SegRunInfo {
  task: 'segmentation';
  config: ResolvedSegRunConfig;
  classNames: string[];
  /** reduce_zero_label as the training data used it (evaluation must use the same). */
  reduceZeroLabel: boolean;
}

export interface OpenedSegCheckpoint {
  dir: string;
  runDir: string;
  iter: number;
  info: SegRunInfo;
  /** The rebuilt model with the checkpoint's weights, in inference mode. */
  model: SemanticFPN;
}

/** The training state and run info of a checkpoint folder (checked), without the weights. */
export async function readSegRunInfo(dir: string): Promise<{ state: TrainingState; info: SegRunInfo }> {
  const where = join(dir, 'state.json');
  let state: TrainingState;
  try {
    state = JSON.parse(await readFile(where, 'utf8')) as TrainingState;
  } catch (err) {
    throw new Error(`${where}: cannot read the training state (${(err as Error).message})`);
  }
  const info = (state.extra ?? {}) as Partial<SegRunInfo>;
  if (info.task !== 'segmentation') throw new Error(`${where}: field 'extra.task': expected 'segmentation', got ${JSON.stringify(info.task)} (not a segmentation run)`);
  if (info.config?.model?.kind !== 'semantic-fpn') throw new Error(`${where}: field 'extra.config.model': no segmenter config saved`);
  if (!Array.isArray(info.classNames)) throw new Error(`${where}: field 'extra.classNames' missing`);
  return { state, info: info as SegRunInfo };
}

/** Opens a run folder (its latest checkpoint) or a checkpoint folder: config from state.json, weights from model.safetensors. */
export async function openSegCheckpoint(path: string): Promise<OpenedSegCheckpoint> {
  const { dir, runDir } = await resolveCheckpointDir(path);
  const { state, info } = await readSegRunInfo(dir);
  const weights = await loadSafetensors(join(dir, 'model.safetensors'));
  const model = createSegmenter(info.config.model);
  try {
    model.loadStateDict(weights, { label: `${info.config.preset ?? 'semantic-fpn'} from ${dir}` });
  } catch (err) {
    model.dispose();
    throw err;
  }
  model.eval();
  return { dir, runDir, iter: state.iter, info, model };
}
