import { writeFile, rename, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setupBackend } from '@partialnet/core';
import { formatSegTable, segMetricsJson, type SegMetrics } from '@partialnet/coco';
import { encodeLabelMap, openSemanticSplit } from '@partialnet/data';
import { evaluateSegmentation, openSegCheckpoint, scoreLabelFolders } from '@partialnet/pipeline';
import type { SegTestMode } from '@partialnet/segmentation';
import { UsageError } from '../command.js';
import { BACKEND_OPTION, NO_PROGRESS_OPTION, defineCommand } from '../options.js';

async function writeJson(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await rename(tmp, path);
}

function report(m: SegMetrics, json: string | undefined, images: number): Promise<void> | void {
  console.log(`${images} images\n${formatSegTable(m)}`);
  if (json) return writeJson(json, segMetricsJson(m)).then(() => console.log(`wrote ${json}`));
}

export const evalSegCommand = defineCommand({
  name: 'eval-seg',
  summary: 'mIoU / mAcc / aAcc (mmseg) of a train-seg checkpoint, or of a folder of prediction PNGs',
  synopsis: ['--checkpoint RUN [options]', '--predictions DIR --labels DIR --classes N [options]'],
  description: `mmseg's IoUMetric on a split: intersection and union per class accumulated over all images, IoU and
Acc per class, mIoU / mAcc as the mean over classes with a defined value, aAcc. Prints the per-class
table (percent, 2 decimals); --json writes {aAcc, mIoU, mAcc, perClass: [{id, name, IoU, Acc}]} as
fractions (null where undefined).

With --checkpoint: a run folder or checkpoint folder of train-seg; the data folder and the test
settings default to the run's (whole-image inference at its scale). --mode slide averages
overlapping crops (default crop = the training crop, stride 2/3 of it); --flip and --scales add
test-time augmentation (probabilities averaged). --save-predictions writes label PNGs.

With --predictions: scores the label PNGs of another tool against the label PNGs in --labels,
matched by file name; both read as stored indices (palette PNGs give their indices).`,
  options: {
    checkpoint: { type: 'string', arg: 'RUN', help: 'a train-seg run or checkpoint folder' },
    data: { type: 'string', arg: 'DIR', help: "data folder (default: the run's)" },
    split: { type: 'string', help: "split to score (default: the run's val split)" },
    mode: { type: 'string', choices: ['whole', 'slide'], help: "inference mode (default: the run's)" },
    crop: { type: 'integers', arg: 'H,W', count: 2, min: 1, help: 'sliding-window crop' },
    stride: { type: 'integers', arg: 'H,W', count: 2, min: 1, help: 'sliding-window stride' },
    flip: { type: 'boolean', help: 'horizontal-flip test-time augmentation' },
    scales: { type: 'numbers', arg: 'R,R,...', above: 0, help: 'multi-scale test-time augmentation ratios' },
    'save-predictions': { type: 'string', arg: 'DIR', help: 'write the predicted label PNGs here' },
    predictions: { type: 'string', arg: 'DIR', help: 'prediction PNGs of another tool' },
    labels: { type: 'string', arg: 'DIR', help: 'label PNGs to score --predictions against' },
    classes: { type: 'integer', arg: 'N', min: 1, max: 255, help: 'class count for --predictions' },
    'class-names': { type: 'string', arg: 'FILE.txt', help: 'class names for --predictions, one per line' },
    'reduce-zero-label': { type: 'boolean', help: 'reduce the --labels by one (0 ignored), as ADE20K' },
    json: { type: 'string', arg: 'OUT.json', help: 'write the metrics as JSON' },
    backend: BACKEND_OPTION,
    'no-progress': NO_PROGRESS_OPTION,
  },
  async run(values) {
    if (values.predictions || values.labels) {
      if (!values.predictions || !values.labels || values.classes === undefined) throw new UsageError('--predictions DIR, --labels DIR and --classes N go together');
      const n = values.classes;
      let names: string[] | undefined;
      if (values['class-names']) {
        const { readFile } = await import('node:fs/promises');
        names = (await readFile(values['class-names'], 'utf8')).split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
        if (names.length !== n) throw new UsageError(`--class-names: ${values['class-names']} has ${names.length} names for --classes ${n}`);
      }
      const m = await scoreLabelFolders({ predictions: values.predictions, labels: values.labels, numClasses: n, ...(names ? { classNames: names } : {}), reduceZeroLabel: values['reduce-zero-label'] });
      await report(m, values.json, m.images);
      return 0;
    }
    if (!values.checkpoint) throw new UsageError('--checkpoint RUN (or --predictions / --labels / --classes) is required');
    await setupBackend(values.backend);
    const ckpt = await openSegCheckpoint(values.checkpoint);
    try {
      const cfg = ckpt.info.config;
      const data = values.data ?? cfg.data;
      if (!data) throw new UsageError('--data DIR is required (the run has no data folder saved)');
      const split = await openSemanticSplit(data, values.split ?? cfg.valSplit, { reduceZeroLabel: ckpt.info.reduceZeroLabel });
      if (split.classNames.length !== ckpt.info.classNames.length) throw new Error(`${data}: ${split.classNames.length} classes, the checkpoint has ${ckpt.info.classNames.length}`);
      let test: SegTestMode = cfg.test;
      const mode = values.mode ?? test.mode;
      if (mode === 'slide') {
        const pair = (v: number[] | undefined, fallback: [number, number]): [number, number] => (v ? [v[0]!, v[1]!] : fallback);
        const crop = pair(values.crop, test.mode === 'slide' ? test.crop : cfg.cropSize);
        const stride = pair(values.stride, test.mode === 'slide' ? test.stride : [Math.ceil((crop[0] * 2) / 3), Math.ceil((crop[1] * 2) / 3)]);
        test = { mode: 'slide', crop, stride };
      } else if (mode === 'whole') test = { mode: 'whole' };
      else throw new Error(`${values.checkpoint}: unknown test mode '${mode}'`);
      const scales = values.scales;
      const saveDir = values['save-predictions'];
      if (saveDir) await mkdir(saveDir, { recursive: true });
      const r = await evaluateSegmentation({
        predict: (x, metas) => ckpt.model.predict(x, metas, { test, flip: values.flip, ...(scales ? { scales } : {}) }),
        dataset: split.dataset,
        classNames: ckpt.info.classNames,
        scale: cfg.scale,
        ignoreIndex: cfg.model.head.ignoreIndex,
        batchSize: 1,
        workers: cfg.workers,
        progress: !values['no-progress'],
        ...(saveDir
          ? { onPrediction: async (p, rec) => writeFile(join(saveDir, `${rec.semanticFile!.split('/').pop()!.replace(/\.[^.]+$/, '')}.png`), await encodeLabelMap(p)) }
          : {}),
      });
      console.log(`${values.checkpoint} (iter ${ckpt.iter}), ${split.layout} ${values.split ?? cfg.valSplit}, ${test.mode}${test.mode === 'slide' ? ` crop ${test.crop.join('x')} stride ${test.stride.join('x')}` : ''}${values.flip ? ' + flip' : ''}${scales ? ` scales ${scales.join(',')}` : ''}, ${r.imgPerSec.toFixed(2)} img/s`);
      await report(r.metrics, values.json, r.images);
      return 0;
    } finally {
      ckpt.model.dispose();
    }
  },
});
