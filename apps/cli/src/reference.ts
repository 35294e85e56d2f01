import { readFileSync } from 'node:fs';
import { UsageError } from './command.js';

/**
 * Figures from another implementation (PyTorch) to print next to ours: `--reference FILE.json`.
 * The file holds milliseconds per iteration by measurement key, per benchmark, with the conditions
 * they were measured under (see reference/pytorch-1.13-1thread.json):
 *   { "source": "...", "backbone": { "size": 224, "msPerIter": { "infer@1": 7.8, "train@16": 295 } },
 *     "detection": { "size": 512, "batch": 2, "msPerIter": { "retinanet-t0/train": 2590 } } }
 * Keys: backbone `<mode>@<batch>`, detection `<preset>/<mode>`.
 */
export interface ReferenceSection {
  size?: number;
  batch?: number;
  msPerIter: Record<string, number>;
}

export interface Reference {
  source: string;
  /** The thread count the figures were measured with, when the file records one. */
  threads?: number;
  sections: Record<string, ReferenceSection>;
}

export function loadReference(file: string): Reference {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--reference: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`--reference: ${file}: expected a JSON object`);
  const obj = json as Record<string, unknown>;
  const sections: Record<string, ReferenceSection> = {};
  if (obj.threads !== undefined && !(Number.isInteger(obj.threads) && (obj.threads as number) > 0)) {
    throw new UsageError(`--reference: ${file}: "threads" must be a positive integer, got ${JSON.stringify(obj.threads)}`);
  }
  for (const [name, v] of Object.entries(obj)) {
    // scalars are notes on the measurement (source, threads, date, fixture check), not sections
    if (typeof v !== 'object' || v === null) continue;
    const sec = v as Record<string, unknown>;
    if (typeof sec !== 'object' || sec === null || typeof sec.msPerIter !== 'object' || sec.msPerIter === null) {
      throw new UsageError(`--reference: ${file}: "${name}" needs an object "msPerIter" of milliseconds by key`);
    }
    for (const [key, ms] of Object.entries(sec.msPerIter as Record<string, unknown>)) {
      if (typeof ms !== 'number' || !(ms > 0)) throw new UsageError(`--reference: ${file}: ${name}.msPerIter["${key}"] must be a positive number, got ${JSON.stringify(ms)}`);
    }
    for (const f of ['size', 'batch'] as const) {
      if (sec[f] !== undefined && typeof sec[f] !== 'number') throw new UsageError(`--reference: ${file}: ${name}.${f} must be a number`);
    }
    sections[name] = sec as unknown as ReferenceSection;
  }
  return { source: typeof obj.source === 'string' ? obj.source : file, ...(obj.threads !== undefined ? { threads: obj.threads as number } : {}), sections };
}

/**
 * The fields to add to a measurement: the reference's milliseconds and ours divided by them, when
 * the reference has this key under the same size (and batch and thread count, where it records
 * them); else nothing.
 */
export function compareToReference(
  ref: Reference | undefined,
  section: string,
  key: string,
  ours: number,
  conditions: { size: number; batch?: number; threads?: number },
): { referenceMs?: number; ratio?: number } {
  const sec = ref?.sections[section];
  const ms = sec?.msPerIter[key];
  if (!sec || ms === undefined) return {};
  if (sec.size !== undefined && sec.size !== conditions.size) return {};
  if (sec.batch !== undefined && conditions.batch !== undefined && sec.batch !== conditions.batch) return {};
  if (ref!.threads !== undefined && conditions.threads !== undefined && ref!.threads !== conditions.threads) return {};
  return { referenceMs: ms, ratio: Math.round((ours / ms) * 100) / 100 };
}
