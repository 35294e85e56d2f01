/**
 * `@partialnet/pipeline/run-info`: what a run records in each checkpoint's `state.json`, checked.
 * Pure (type imports only), so pages can read a dropped `state.json` with it; `readSavedRun`
 * (runner.ts) and `readRunInfo` (checkpoint.ts) read the file and call these.
 */
import type { TrainingState } from '@partialnet/core';
import type { ResolvedRunConfig } from './run-config.js';
import type { RunInfo } from './task.js';

/** What a detection run saves in every checkpoint's `state.json` (`extra`). */
export interface DetectionRunInfo {
  task: 'detection';
  config: ResolvedRunConfig;
  /** Contiguous label -> class name and COCO category id, from the training annotations. */
  classNames: string[];
  categoryIds: number[];
}

/** Checks a parsed `state.json` (`where` names it in errors) of a run of `task`. */
export function parseSavedRun<C>(state: unknown, where: string, task: string): { state: TrainingState; info: RunInfo<C> } {
  if (!state || typeof state !== 'object') throw new Error(`${where}: expected a JSON object (a checkpoint's state.json)`);
  const info = ((state as TrainingState).extra ?? {}) as Partial<RunInfo<C>>;
  if (info.task !== task) throw new Error(`${where}: field 'extra.task': expected '${task}', got ${JSON.stringify(info.task)} (not a ${task} run)`);
  if (typeof info.config !== 'object' || info.config === null) throw new Error(`${where}: field 'extra.config': no run config saved`);
  return { state: state as TrainingState, info: info as RunInfo<C> };
}

/** Checks a parsed `state.json` of a detection run and returns it with its detection run info. */
export function parseRunInfo(state: unknown, where: string): { state: TrainingState; info: DetectionRunInfo } {
  const { state: s, info } = parseSavedRun<DetectionRunInfo['config']>(state, where, 'detection');
  const d = info as Partial<DetectionRunInfo>;
  if (!d.config?.model?.kind) throw new Error(`${where}: field 'extra.config.model': no detector config saved`);
  if (!Array.isArray(d.categoryIds) || !Array.isArray(d.classNames)) throw new Error(`${where}: fields 'extra.classNames' / 'extra.categoryIds' missing`);
  return { state: s, info: d as DetectionRunInfo };
}
