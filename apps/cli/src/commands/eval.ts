import { join } from 'node:path';
import { setupBackend } from '@partialnet/core';
import { evaluateDetections, evaluateShard, iouTypesOf, openDetectionCheckpoint, openDetectionRuntime, openDetectionSplit, parseShard, type IouType, type Shard } from '@partialnet/pipeline';
import { UsageError } from '../command.js';
import { reportEvaluation } from '../eval-report.js';
import { BACKEND_OPTION, NO_PROGRESS_OPTION, RUNTIME_OPTIONS, defineCommand, runtimeChoice } from '../options.js';

export const evalCommand = defineCommand({
  name: 'eval',
  summary: 'COCO AP of a trained detector on a split (writes results JSON, prints the summary)',
  description: `Runs a trained detector over a split (default: the run's data folder, split val), writes COCO results
(results.<split>.bbox.json, results.<split>.segm.json) and metrics.<split>.json into the run folder (or
--out), each complete or not at all (temporary name, renamed at the end), and prints
pycocotools' 12-line summary and the AP per class for each IoU type.
RUN is a \`partialnet train\` folder (its newest checkpoint) or one checkpoint folder (RUN/checkpoints/iter_N).
--runtime onnx runs the dense part (backbone, FPN, heads) in ONNX Runtime (exported from the
checkpoint in memory, or --onnx M.onnx from 'partialnet export onnx --checkpoint') and the
post-processing in TypeScript.

--shard I/N (0 <= I < N) predicts only shard I of the split (images whose position among the sorted
image ids is I mod N) into RUN/shard-I-of-N (or --out): results files and a shard.json manifest, no score;
partialnet eval merge RUN/shard-* then scores all shards together: exactly the numbers of one
unsharded run at --batch 1 (the default with --shard; a batch pads its images to the largest one,
which can move predictions in the last digits, so compare with an unsharded --batch 1 run).`,
  options: {
    checkpoint: { type: 'string', arg: 'RUN|CHECKPOINT', required: true, help: 'a train run folder or one checkpoint folder' },
    data: { type: 'string', arg: 'DIR', help: "data folder (default: the run's)" },
    split: { type: 'string', help: "split to evaluate (default: the run's val split)" },
    'iou-type': { type: 'string', arg: 'bbox,segm', help: 'IoU types (default: bbox for RetinaNet, bbox,segm for Mask R-CNN)' },
    batch: { type: 'integer', min: 1, help: 'images per batch (default: as in training)' },
    workers: { type: 'integer', min: 0, help: 'decoding worker threads (default: as in training)' },
    out: { type: 'string', arg: 'DIR', help: 'folder for results and metrics.json (default: the run folder)' },
    backend: BACKEND_OPTION,
    'no-progress': NO_PROGRESS_OPTION,
    ...RUNTIME_OPTIONS,
    shard: { type: 'string', arg: 'I/N', help: 'evaluate only shard I of N (0-based) into RUN/shard-I-of-N, unscored (see eval merge)' },
  },
  async run(values) {
    const runtimeOptions = runtimeChoice(values);
    const report = await setupBackend(values.backend);
    const ckpt = await openDetectionCheckpoint(values.checkpoint);
    const runtime = await openDetectionRuntime(ckpt.model, runtimeOptions).catch((e: unknown) => {
      ckpt.model.dispose();
      throw e;
    });
    try {
      const { config } = ckpt.info;
      const available = iouTypesOf(config.model);
      const iouTypes = (values['iou-type'] ?? available.join(',')).split(',').map((t) => t.trim()) as IouType[];
      for (const t of iouTypes) {
        if (t !== 'bbox' && t !== 'segm') throw new UsageError(`--iou-type: bbox and/or segm, got '${t}'`);
        if (!available.includes(t)) throw new UsageError(`--iou-type ${t}: this ${config.model.kind} model has no masks`);
      }
      const data = values.data ?? config.data;
      if (!data) throw new UsageError('--data DIR is required (the checkpoint does not name its data folder)');
      const splitName = values.split ?? config.valSplit;
      const split = await openDetectionSplit(data, splitName, { withMasks: false });
      if (split.categoryIds.join() !== ckpt.info.categoryIds.join()) {
        throw new Error(`${split.files.annotations}: categories [${split.categoryIds.join(', ')}] differ from the model's [${ckpt.info.categoryIds.join(', ')}] (trained on other data?)`);
      }
      let shard: Shard | undefined;
      try {
        shard = values.shard === undefined ? undefined : parseShard(values.shard);
      } catch (err) {
        throw new UsageError(`--shard: ${(err as Error).message}`);
      }
      // Batch 1 by default for shards: only then are predictions independent of how images are grouped.
      const batch = values.batch ?? (shard ? 1 : config.evalBatchSize);
      const workers = values.workers ?? config.workers;
      const outDir = values.out ?? (shard ? join(ckpt.runDir, `shard-${shard.index}-of-${shard.count}`) : ckpt.runDir);
      if (shard) {
        const m = await evaluateShard({
          shard,
          checkpoint: ckpt.dir,
          iter: ckpt.iter,
          data,
          split: values.split ?? config.valSplit,
          annotations: split.files.annotations,
          predict: runtime.predict,
          dataset: split.dataset,
          gt: split.gt,
          labelToCategoryId: ckpt.info.categoryIds,
          iouTypes,
          outDir,
          scale: config.scale,
          batchSize: batch,
          workers,
          progress: !values['no-progress'],
        });
        console.log(
          `eval shard ${shard.index}/${shard.count}: ${m.imageIds.length} of ${m.splitImages} images of ${split.files.annotations} (${ckpt.dir}), ` +
            `results and ${outDir}/shard.json written in ${m.seconds.toFixed(1)} s; when every shard is done: partialnet eval merge ${join(ckpt.runDir, 'shard-*')}`,
        );
        return 0;
      }
      console.log(
        `eval: ${config.preset ?? config.model.kind} at iteration ${ckpt.iter} (${ckpt.dir}), ${split.dataset.length} images of ${split.files.annotations}, scale ${config.scale.join('x')}, ${runtime.description === 'tfjs' ? `backend ${report.name}` : `${runtime.description}, post-processing on ${report.name}`}`,
      );
      const r = await evaluateDetections({
        predict: runtime.predict,
        dataset: split.dataset,
        gt: split.gt,
        labelToCategoryId: ckpt.info.categoryIds,
        iouTypes,
        outDir,
        split: splitName,
        scale: config.scale,
        batchSize: batch,
        workers,
        progress: !values['no-progress'],
      });
      await reportEvaluation(r, iouTypes, join(outDir, `metrics.${splitName}.json`), { checkpoint: ckpt.dir, iter: ckpt.iter, data: split.files.annotations });
      return 0;
    } finally {
      await runtime.dispose();
      ckpt.model.dispose();
    }
  },
});
