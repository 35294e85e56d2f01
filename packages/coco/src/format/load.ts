import { basename } from '#platform';
import { CocoGroundTruth, GroundTruthBuilder } from './dataset.js';
import { CocoFormatError } from './errors.js';
import { readJsonBuffer, readJsonFile, type JsonSink } from './json-stream.js';
import type { CocoDataset } from './types.js';
import { isObject } from './validate.js';

export interface LoadStats {
  /** Bytes read from the file (0 for in-memory input). */
  bytes: number;
  /** Wall time of reading, parsing and validating, in milliseconds. */
  ms: number;
}

export interface LoadOptions {
  /** Name used in error messages (default: the file's base name). */
  label?: string;
  /** Read size and JSON.parse batch size in bytes (default 2 MiB). */
  chunkBytes?: number;
}

function builderSink(b: GroundTruthBuilder): JsonSink {
  return {
    streamed: (key) => GroundTruthBuilder.STREAMED.has(key),
    elements: (key, items, first) => b.elements(key, items, first),
    value: (key, v) => b.value(key, v),
  };
}

/**
 * Loads and validates an instances file, streaming it so that files the size of
 * instances_train2017.json (450 MB) load within Node's default heap. Every problem is reported
 * with its location in one CocoFormatError.
 */
export async function loadInstances(path: string, opts: LoadOptions = {}): Promise<CocoGroundTruth & { loadStats: LoadStats }> {
  const t0 = performance.now();
  const label = opts.label ?? basename(path);
  const b = new GroundTruthBuilder(label);
  const bytes = await readJsonFile(path, builderSink(b), { label, ...(opts.chunkBytes ? { chunkBytes: opts.chunkBytes } : {}) });
  const gt = b.finish();
  return Object.assign(gt, { loadStats: { bytes, ms: performance.now() - t0 } });
}

/** The same for a dataset already in memory: a parsed object, JSON text or bytes. */
export function instancesFrom(data: CocoDataset | string | Buffer, label = 'instances'): CocoGroundTruth {
  const b = new GroundTruthBuilder(label);
  if (typeof data === 'string' || Buffer.isBuffer(data)) {
    readJsonBuffer(data, builderSink(b), { label });
  } else {
    if (!isObject(data)) throw new CocoFormatError(label, [`${label}: expected an object with images, annotations and categories`]);
    for (const [k, v] of Object.entries(data)) b.value(k, v);
  }
  return b.finish();
}
