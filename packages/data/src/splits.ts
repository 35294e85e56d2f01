import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ShapesManifest } from './synth.js';

/** Where a split of a data root lives. */
export interface SplitFiles {
  annotations: string;
  images: string;
  /** Semantic label PNGs (shapes folders only). */
  semantic?: string;
  /** The shapes folder's manifest, when the root is one. */
  manifest?: ShapesManifest;
}

/**
 * The annotation file and image folder of `split` in a data root: a shapes folder (its
 * `shapes.json` manifest) or `DIR/annotations/instances_<split>[2017].json` + `DIR/<split>[2017]/`.
 * The one place that knows data-root layouts; fails naming what is missing.
 */
export async function resolveSplit(dir: string, split: string): Promise<SplitFiles> {
  if (!existsSync(dir)) throw new Error(`${dir}: data folder not found`);
  const manifestPath = join(dir, 'shapes.json');
  if (existsSync(manifestPath)) {
    let manifest: ShapesManifest;
    try {
      manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as ShapesManifest;
    } catch (err) {
      throw new Error(`${manifestPath}: unreadable manifest, not valid JSON (${(err as Error).message})`);
    }
    const splits = (manifest as { splits?: unknown } | null)?.splits;
    if (typeof splits !== 'object' || splits === null) throw new Error(`${manifestPath}: field 'splits': expected an object of splits ({ "train": { "annotations", "images" } ...})`);
    const s = (splits as Record<string, { annotations?: unknown; images?: unknown; semantic?: unknown } | undefined>)[split];
    if (!s) throw new Error(`${manifestPath}: field 'splits': no split '${split}' (have ${Object.keys(manifest.splits ?? {}).join(', ')})`);
    if (typeof s.annotations !== 'string' || typeof s.images !== 'string') throw new Error(`${manifestPath}: field 'splits.${split}': expected 'annotations' and 'images' paths`);
    const files: SplitFiles = { annotations: join(dir, s.annotations), images: join(dir, s.images), manifest };
    if (typeof s.semantic === 'string') files.semantic = join(dir, s.semantic);
    if (!existsSync(files.annotations)) throw new Error(`${manifestPath}: split '${split}' names ${files.annotations}, which does not exist`);
    return files;
  }
  const tried: string[] = [];
  for (const name of [`instances_${split}.json`, `instances_${split}2017.json`]) {
    const annotations = join(dir, 'annotations', name);
    tried.push(annotations);
    if (!existsSync(annotations)) continue;
    const images = [join(dir, `${split}2017`), join(dir, split)].find((p) => existsSync(p));
    if (!images) throw new Error(`${dir}: found ${annotations} but no image folder ${join(dir, split)} (or ${split}2017)`);
    return { annotations, images };
  }
  throw new Error(`${dir}: not a data folder: no shapes.json and none of ${tried.join(', ')}`);
}
