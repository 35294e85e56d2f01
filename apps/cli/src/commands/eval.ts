import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { STAT_NAMES, formatCategoryTable } from '@partialnet/coco';
import { setupBackend } from '@partialnet/core';
import { evaluateDetections, flatMetrics, formatApTable, iouTypesOf, openDetectionCheckpoint, openDetectionSplit, type IouType } from '@partialnet/pipeline';
import { backendFlag, numberFlag, parseCommandArgs } from '../args.js';
import { UsageError, type Command } from '../command.js';

const usage = `usage: partialnet eval --checkpoint RUN|CHECKPOINT [--data DIR] [--split val] [--iou-type bbox,segm]
                       [--batch N] [--workers N] [--out DIR] [--backend auto|wasm|cpu|webgpu|...] [--no-progress]

Runs a trained detector over a split (default: the run's data folder, split val), writes COCO results
(results.bbox.json, results.segm.json) and metrics.json into the run folder (or --out), and prints
pycocotools' 12-line summary and the AP per class for each IoU type.
RUN is a \`partialnet train\` folder (its newest checkpoint) or one checkpoint folder (RUN/checkpoints/iter_N).
Defaults: --iou-type bbox for RetinaNet, bbox,segm for Mask R-CNN; --batch as in training.`;

export const evalCommand: Command = {
  name: 'eval',
  summary: 'COCO AP of a trained detector on a split (writes results JSON, prints the summary)',
  usage,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      checkpoint: { type: 'string' },
      data: { type: 'string' },
      split: { type: 'string' },
      'iou-type': { type: 'string' },
      batch: { type: 'string' },
      workers: { type: 'string' },
      out: { type: 'string' },
      backend: { type: 'string' },
      'no-progress': { type: 'boolean', default: false },
    });
    if (!values.checkpoint) throw new UsageError('--checkpoint RUN is required');
    const report = await setupBackend(backendFlag(values.backend));
    const ckpt = await openDetectionCheckpoint(values.checkpoint);
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
      const split = await openDetectionSplit(data, values.split ?? config.valSplit, { withMasks: false });
      if (split.categoryIds.join() !== ckpt.info.categoryIds.join()) {
        throw new Error(`${split.files.annotations}: categories [${split.categoryIds.join(', ')}] differ from the model's [${ckpt.info.categoryIds.join(', ')}] (trained on other data?)`);
      }
      const batch = numberFlag('batch', values.batch, config.evalBatchSize);
      const workers = numberFlag('workers', values.workers, config.workers);
      const outDir = values.out ?? ckpt.runDir;
      console.log(
        `eval: ${config.preset ?? config.model.kind} at iteration ${ckpt.iter} (${ckpt.dir}), ${split.dataset.length} images of ${split.files.annotations}, scale ${config.scale.join('x')}, backend ${report.name}`,
      );
      const r = await evaluateDetections({
        predict: (x, metas) => ckpt.model.predict(x, metas),
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
      for (const t of iouTypes) {
        const m = r[t]!;
        for (const w of m.warnings) console.warn(`warning: ${w}`);
        console.log(`\nEvaluate annotation type *${t}* (${m.numResults} results in ${m.resultsFile})\n${m.summary}`);
        console.log(`\nper class (${t}):\n${formatCategoryTable(m.perCategory)}`);
      }
      console.log(`\n${formatApTable(r)}\n${r.images} images, ${r.imgPerSec.toFixed(2)} img/s, ${r.seconds.toFixed(1)} s`);
      const metrics = {
        checkpoint: ckpt.dir,
        iter: ckpt.iter,
        data: split.files.annotations,
        images: r.images,
        statNames: STAT_NAMES,
        ...Object.fromEntries(iouTypes.map((t) => [t, { stats: r[t]!.stats, perCategory: r[t]!.perCategory }])),
        flat: flatMetrics(r),
      };
      await writeFile(join(outDir, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
      return 0;
    } finally {
      ckpt.model.dispose();
    }
  },
};
