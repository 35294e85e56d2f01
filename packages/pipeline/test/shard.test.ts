import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tf } from '@partialnet/core';
import { writeShapesDataset, type ImageMeta } from '@partialnet/data';
import type { Detections } from '@partialnet/detection';
import { evaluateDetections, evaluateShard, mergeEvalShards, openDetectionSplit, parseShard, shardDataset, shardImageIds, type DetectionSplit } from '../src/index.js';

/**
 * Imperfect but deterministic detections: each ground-truth box moved by a few pixels that depend
 * on the image id, scores that tie and differ, and one false positive per image, so that AP is
 * neither 0 nor 1 and depends on every detection.
 */
function noisyPredictor(split: DetectionSplit) {
  const { gt } = split;
  const labelOf = new Map(split.categoryIds.map((id, i) => [id, i]));
  return (_images: tf.Tensor4D, metas: readonly ImageMeta[]): Detections[] =>
    metas.map((m) => {
      const rows: number[] = [];
      for (let i = 0; i < gt.annotations.count; i++) if (gt.annotations.imageId[i] === m.imageId) rows.push(i);
      const boxes: number[] = [];
      const scores: number[] = [];
      const labels: number[] = [];
      rows.forEach((r, k) => {
        const [x, y, w, h] = gt.annotations.bbox.subarray(4 * r, 4 * r + 4);
        const d = ((m.imageId * 7 + k * 3) % 5) - 2;
        boxes.push(x! + d, y! - d, x! + w! + 2 * d, y! + h!);
        scores.push(k % 2 === 0 ? 0.9 : 0.5 + 0.01 * ((m.imageId + k) % 7));
        labels.push(labelOf.get(gt.annotations.categoryId[r]!)!);
      });
      boxes.push(1, 1, 20, 20);
      scores.push(0.5);
      labels.push(m.imageId % split.categoryIds.length);
      return { boxes: Float32Array.from(boxes), scores: Float32Array.from(scores), labels: Int32Array.from(labels) };
    });
}

describe('sharded evaluation', () => {
  const root = mkdtempSync(join(tmpdir(), 'shard-'));
  const data = join(root, 'shapes');
  beforeAll(async () => {
    await setupBackend('wasm');
    await writeShapesDataset(data, { images: 16, width: 64, height: 64, seed: 11, valFraction: 0.75, format: 'png' });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('parseShard and shardImageIds: disjoint, complete, deterministic, balanced', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    expect(() => parseShard('3/3')).toThrow(/0 <= I < N/);
    expect(() => parseShard('x')).toThrow(/expected I\/N/);
    const ids = [90, 3, 17, 5, 42, 8, 1000, 13, 2, 77];
    const parts = [0, 1, 2].map((index) => shardImageIds(ids, { index, count: 3 }));
    expect(parts.flat().sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
    expect(parts.map((p) => p.length)).toEqual([4, 3, 3]);
    expect(shardImageIds([...ids].reverse(), { index: 1, count: 3 })).toEqual(parts[1]);
  });

  it('3 shards merged give exactly the AP of one unsharded run; bad shard sets are refused', async () => {
    const split = await openDetectionSplit(data, 'val', { withMasks: false });
    expect(split.dataset.length).toBeGreaterThanOrEqual(9);
    const common = { predict: noisyPredictor(split), gt: split.gt, labelToCategoryId: split.categoryIds, iouTypes: ['bbox'] as const, scale: [64, 64] as [number, number], batchSize: 2, progress: false };
    const whole = await evaluateDetections({ ...common, dataset: split.dataset, outDir: join(root, 'whole') });
    expect(whole.bbox!.stats[0]).toBeGreaterThan(0.05);
    expect(whole.bbox!.stats[0]).toBeLessThan(0.95);
    const dirs: string[] = [];
    for (const index of [2, 0, 1]) {
      const dir = join(root, `shard-${index}-of-3`);
      const m = await evaluateShard({ ...common, dataset: split.dataset, outDir: dir, shard: { index, count: 3 }, checkpoint: 'ckpt', iter: 1, data, split: 'val', annotations: split.files.annotations });
      expect(m.imageIds.length).toBe(shardDataset(split.dataset, { index, count: 3 }).dataset.length);
      dirs.push(dir);
    }
    const merged = await mergeEvalShards({ shardDirs: dirs, outDir: join(root, 'merged'), gt: split.gt });
    expect(merged.images).toBe(split.dataset.length);
    expect(merged.bbox!.stats).toEqual(whole.bbox!.stats);
    expect(merged.bbox!.perCategory).toEqual(whole.bbox!.perCategory);
    expect(merged.bbox!.numResults).toBe(whole.bbox!.numResults);
    await expect(mergeEvalShards({ shardDirs: dirs.slice(0, 2), outDir: join(root, 'm2'), gt: split.gt })).rejects.toThrow(/shards 1\/3 are missing/);
    await expect(mergeEvalShards({ shardDirs: [...dirs, dirs[0]!], outDir: join(root, 'm3'), gt: split.gt })).rejects.toThrow(/given twice/);
    await expect(mergeEvalShards({ shardDirs: [root], outDir: join(root, 'm4'), gt: split.gt })).rejects.toThrow(/no shard\.json/);
  });
});
