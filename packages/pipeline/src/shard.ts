import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { writeFileAtomic } from '@partialnet/core';
import type { Dataset } from '@partialnet/data';

import { resultsFileName, scoreResults } from './coco-evaluator.js';
import { evaluateDetections, type DetectionEvalResult, type EvaluateOptions } from './evaluate.js';
import type { CocoGroundTruth } from '@partialnet/coco';
import { ResultsWriter, type IouType } from './results.js';

/**
 * Splitting evaluation and prediction into independent jobs (SLURM job arrays, Kubernetes indexed
 * jobs): shard I of N takes the images whose position in the ascending list of image ids is I
 * modulo N. The split is disjoint, covers every image, is the same on every machine, and balanced
 * whatever the ids look like. Each shard writes its results and a `shard.json` manifest; merging
 * concatenates the results and scores them once against the whole split, which gives exactly the
 * numbers of one unsharded run (COCOeval looks at each image's detections on their own).
 */

export interface Shard {
  /** 0-based, as SLURM_ARRAY_TASK_ID (with --array=0-(N-1)) and JOB_COMPLETION_INDEX count. */
  index: number;
  count: number;
}

export const SHARD_MANIFEST = 'shard.json';

/** Parses `I/N` (0 <= I < N). */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1) || !(index >= 0 && index < count)) {
    throw new Error(`shard '${text}': expected I/N with 0 <= I < N (e.g. 0/4 ... 3/4)`);
  }
  return { index, count };
}

/** The image ids of one shard (see the file comment). */
export function shardImageIds(imageIds: readonly number[], shard: Shard): number[] {
  const sorted = [...new Set(imageIds)].sort((a, b) => a - b);
  return sorted.filter((_, p) => p % shard.count === shard.index);
}

/** The records of `dataset` whose image ids fall in `shard`, in dataset order. */
export function shardDataset(dataset: Dataset, shard: Shard): { dataset: Dataset; imageIds: number[] } {
  const ids: number[] = [];
  for (let i = 0; i < dataset.length; i++) ids.push(dataset.record(i).imageId);
  const keep = new Set(shardImageIds(ids, shard));
  const indices = ids.flatMap((id, i) => (keep.has(id) ? [i] : []));
  const subset: Dataset = {
    length: indices.length,
    // Records keep their image ids; `index` is renumbered because loaders address records by it.
    record: (i: number) => ({ ...dataset.record(indices[i]!), index: i }),
  };
  return { dataset: subset, imageIds: indices.map((i) => ids[i]!) };
}

/** What a shard job leaves beside its results files, for `mergeEvalShards`. */
export interface ShardManifest {
  shard: Shard;
  /** The checkpoint folder evaluated, the data folder, split and annotation file. */
  checkpoint: string;
  iter: number;
  data: string;
  split: string;
  annotations: string;
  iouTypes: IouType[];
  /** This shard's image ids and the number of images in the whole split. */
  imageIds: number[];
  splitImages: number;
  /** Results files, relative to the shard folder. */
  results: Partial<Record<IouType, string>>;
  seconds: number;
}

export interface EvaluateShardOptions extends Omit<EvaluateOptions, 'score'> {
  shard: Shard;
  /** Recorded in the manifest so that merging can check the shards belong together. */
  checkpoint: string;
  iter: number;
  data: string;
  split: string;
  annotations: string;
}

/** Predicts shard `shard` of the split into `outDir` (results files + shard.json), without scoring. */
export async function evaluateShard(o: EvaluateShardOptions): Promise<ShardManifest> {
  const { dataset, imageIds } = shardDataset(o.dataset, o.shard);
  // A rerun rewrites the results files: drop the old manifest first so that an interrupted rerun
  // never leaves a manifest over half-written results.
  await rm(join(o.outDir, SHARD_MANIFEST), { force: true });
  const r = await evaluateDetections({ ...o, dataset, split: o.split, score: false });
  const manifest: ShardManifest = {
    shard: o.shard,
    checkpoint: o.checkpoint,
    iter: o.iter,
    data: o.data,
    split: o.split,
    annotations: o.annotations,
    iouTypes: [...o.iouTypes],
    imageIds,
    splitImages: o.dataset.length,
    results: Object.fromEntries(Object.entries(r.resultsFiles ?? {}).map(([t, f]) => [t, basename(f)])),
    seconds: r.seconds,
  };
  await writeShardManifest(o.outDir, manifest);
  return manifest;
}

export async function writeShardManifest(dir: string, manifest: ShardManifest): Promise<void> {
  await writeFileAtomic(join(dir, SHARD_MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`, 'shard manifest');
}

export async function readShardManifest(dir: string): Promise<ShardManifest> {
  const path = join(dir, SHARD_MANIFEST);
  if (!existsSync(path)) throw new Error(`${dir}: no ${SHARD_MANIFEST} (not a finished eval --shard folder)`);
  const m = JSON.parse(await readFile(path, 'utf8')) as ShardManifest;
  if (!m.shard || !Array.isArray(m.imageIds) || !m.results) throw new Error(`${path}: not a shard manifest`);
  return m;
}

export interface MergeShardsOptions {
  /** Shard folders (each with shard.json); their order does not matter. */
  shardDirs: readonly string[];
  /** Where the merged results files go. */
  outDir: string;
  /** The split's ground truth (what the manifests name); checked against the shards' image ids. */
  gt: CocoGroundTruth;
}

export interface MergedEvaluation extends DetectionEvalResult {
  manifests: ShardManifest[];
}

/**
 * Checks that the shards are one complete, disjoint split of the same evaluation (same checkpoint,
 * split, shard count; every index once; image ids covering the ground truth), concatenates their
 * results in image-id order and scores them once.
 */
export async function mergeEvalShards(o: MergeShardsOptions): Promise<MergedEvaluation> {
  if (o.shardDirs.length === 0) throw new Error('eval merge: no shard folders given');
  const manifests = await Promise.all(o.shardDirs.map((d) => readShardManifest(d)));
  const first = manifests[0]!;
  const where = (i: number) => o.shardDirs[i]!;
  manifests.forEach((m, i) => {
    for (const key of ['checkpoint', 'split', 'annotations'] as const) {
      if (m[key] !== first[key]) throw new Error(`eval merge: ${where(i)} evaluated ${key} ${m[key]}, ${where(0)} ${first[key]}`);
    }
    if (m.shard.count !== first.shard.count) throw new Error(`eval merge: ${where(i)} is shard ${m.shard.index}/${m.shard.count}, ${where(0)} ${first.shard.index}/${first.shard.count}`);
    if (m.iouTypes.join() !== first.iouTypes.join()) throw new Error(`eval merge: ${where(i)} has IoU types ${m.iouTypes.join(',')}, ${where(0)} ${first.iouTypes.join(',')}`);
  });
  const seen = new Map<number, string>();
  manifests.forEach((m, i) => {
    if (seen.has(m.shard.index)) throw new Error(`eval merge: shard ${m.shard.index}/${m.shard.count} given twice (${seen.get(m.shard.index)} and ${where(i)})`);
    seen.set(m.shard.index, where(i));
  });
  const missing = Array.from({ length: first.shard.count }, (_, i) => i).filter((i) => !seen.has(i));
  if (missing.length > 0) throw new Error(`eval merge: shards ${missing.map((i) => `${i}/${first.shard.count}`).join(', ')} are missing`);
  const covered = new Set<number>();
  for (const m of manifests) for (const id of m.imageIds) {
    if (covered.has(id)) throw new Error(`eval merge: image ${id} is in two shards`);
    covered.add(id);
  }
  // The shards must cover the split as evaluating it whole would (its dataset's images).
  const inGt = new Set(o.gt.getImgIds());
  const foreign = [...covered].filter((id) => !inGt.has(id));
  if (foreign.length > 0) throw new Error(`eval merge: images ${foreign.slice(0, 5).join(', ')} are not in ${first.annotations}`);
  if (covered.size !== first.splitImages) {
    throw new Error(`eval merge: the shards cover ${covered.size} images, the split has ${first.splitImages}`);
  }
  const started = performance.now();
  await mkdir(o.outDir, { recursive: true });
  const resultsFiles: Partial<Record<IouType, string>> = {};
  const result: MergedEvaluation = { images: covered.size, seconds: 0, imgPerSec: 0, resultsFiles, manifests };
  const shardSeconds = manifests.reduce((s, m) => s + m.seconds, 0);
  result.imgPerSec = covered.size / Math.max(shardSeconds, 1e-9);
  for (const t of first.iouTypes) {
    const entries: { image_id: number }[] = [];
    for (let i = 0; i < manifests.length; i++) {
      const file = manifests[i]!.results[t];
      if (!file) throw new Error(`eval merge: ${where(i)} has no ${t} results`);
      entries.push(...(JSON.parse(await readFile(resolve(where(i), file), 'utf8')) as { image_id: number }[]));
    }
    // Image order, each image's detections in the order its shard wrote them (a stable sort).
    entries.sort((a, b) => a.image_id - b.image_id);
    const path = resultsFileName(o.outDir, first.split, t);
    const writer = new ResultsWriter(path);
    try {
      await writer.write(entries as never);
    } finally {
      await writer.close();
    }
    resultsFiles[t] = path;
    result[t] = await scoreResults(o.gt, path, t);
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}
