/**
 * `@partialnet/pipeline/run-info`: what a detection run records in each checkpoint's `state.json`,
 * checked. Pure (type imports only), so pages can read a dropped `state.json` with it.
 */
import type { TrainingState } from '@partialnet/core';
import type { ResolvedRunConfig } from './run-config.js';

/** What a detection run saves in every checkpoint's `state.json` (`extra`). */
export interface DetectionRunInfo {
  task: 'detection';
  config: ResolvedRunConfig;
  /** Contiguous label -> class name and COCO category id, from the training annotations. */
  classNames: string[];
  categoryIds: number[];
}

/** Checks a parsed `state.json` (`where` names it in errors) and returns it with its detection run info. */
export function parseRunInfo(state: unknown, where: string): { state: TrainingState; info: DetectionRunInfo } {
  if (!state || typeof state !== 'object') throw new Error(`${where}: expected a JSON object (a checkpoint's state.json)`);
  const info = ((state as TrainingState).extra ?? {}) as Partial<DetectionRunInfo>;
  if (info.task !== 'detection') throw new Error(`${where}: field 'extra.task': expected 'detection', got ${JSON.stringify(info.task)} (not a detection run)`);
  if (!info.config?.model?.kind) throw new Error(`${where}: field 'extra.config.model': no detector config saved`);
  if (!Array.isArray(info.categoryIds) || !Array.isArray(info.classNames)) throw new Error(`${where}: fields 'extra.classNames' / 'extra.categoryIds' missing`);
  return { state: state as TrainingState, info: info as DetectionRunInfo };
}
