import type { SegmenterConfig } from './config.js';
import { getSegPreset } from './config.js';
import { SemanticFPN } from './semantic-fpn.js';

/** Builds the segmenter a config (or a preset name, with the data's class count) describes. */
export function createSegmenter(config: SegmenterConfig | string, numClasses?: number): SemanticFPN {
  const c = typeof config === 'string' ? getSegPreset(config, numClasses) : numClasses === undefined ? config : { ...config, numClasses };
  if (c.kind !== 'semantic-fpn') throw new Error(`createSegmenter: unknown kind '${(c as { kind: unknown }).kind}' (expected 'semantic-fpn')`);
  return new SemanticFPN(c);
}
