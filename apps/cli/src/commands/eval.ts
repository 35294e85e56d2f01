import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { STAT_NAMES, formatCategoryTable } from '@partialnet/coco';
import { setupBackend } from '@partialnet/core';
import { evaluateDetections, flatMetrics, formatApTable, iouTypesOf, openDetectionCheckpoint, openDetectionSplit, type IouType } from '@partialnet/pipeline';
import { UsageError } from '../command.js';
import { BACKEND_OPTION, NO_PROGRESS_OPTION, defineCommand } from '../options.js';

export const evalCommand = defineCommand({
  name: 'eval',
  summary: 'COCO AP of a trained detector on a split (writes results JSON, prints the summary)',
  description: `Runs a trained detector over a split (default: the run's data folder, split val), writes COCO results
(results.bbox.json, results.segm.json) and metrics.json into the run folder (or --out), and prints
pycocotools' 12-line summary and the AP per class for each IoU type.
RUN is a \`partialnet train\` folder (its newest checkpoint) or one checkpoint folder (RUN/checkpoints/iter_N).`,
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
  },
  async run(values) {
    const report = await setupBackend(values.backend);
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
      const batch = values.batch ?? config.evalBatchSize;
      const workers = values.workers ?? config.workers;
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
});
