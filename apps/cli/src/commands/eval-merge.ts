import { dirname, join, resolve } from 'node:path';
import { mergeEvalShards, openDetectionSplit, readShardManifest } from '@partialnet/pipeline';
import { UsageError } from '../command.js';
import { reportEvaluation } from '../eval-report.js';
import { defineCommand } from '../options.js';

export const evalMergeCommand = defineCommand({
  name: 'eval merge',
  summary: 'combine eval --shard results into the AP of the whole split',
  synopsis: 'SHARD_DIR... [--out DIR]',
  description: `Scores the shards of a split evaluated with partialnet eval --shard I/N (e.g. RUN/shard-*): checks
that they are one complete, disjoint split of the same checkpoint and split (every index once, image
ids covering the split), concatenates their results into DIR/results.<split>.<type>.json, and prints
and writes (DIR/metrics.<split>.json) exactly what one unsharded eval run at --batch 1 gives.`,
  options: {
    out: { type: 'string', arg: 'DIR', help: 'folder for the merged results and metrics.json (default: the folder holding the shards)' },
  },
  positionals: true,
  async run(values, positionals) {
    if (positionals.length === 0) throw new UsageError('give the shard folders (e.g. runs/x/shard-*)');
    const first = await readShardManifest(positionals[0]!);
    const split = await openDetectionSplit(first.data, first.split, { withMasks: false });
    const outDir = values.out ?? dirname(resolve(positionals[0]!));
    const r = await mergeEvalShards({ shardDirs: positionals, outDir, gt: split.gt });
    console.log(`eval merge: ${r.manifests.length} shards, ${r.images} images of ${first.annotations} (${first.checkpoint})`);
    await reportEvaluation(r, first.iouTypes, join(outDir, `metrics.${first.split}.json`), { checkpoint: first.checkpoint, iter: first.iter, data: first.annotations, shards: r.manifests.length });
    return 0;
  },
});
