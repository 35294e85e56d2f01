import { writeFile, rename, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setupBackend } from '@partialnet/core';
import { formatSegTable, segMetricsJson, type SegMetrics } from '@partialnet/coco';
import { encodeLabelMap, openSemanticSplit } from '@partialnet/data';
import { evaluateSegmentation, openSegCheckpoint, scoreLabelFolders } from '@partialnet/pipeline';
import type { SegTestMode } from '@partialnet/segmentation';
import { backendFlag, numberFlag, numberListFlag, parseCommandArgs } from '../args.js';
import { UsageError, type Command } from '../command.js';

const usage = `usage: partialnet eval-seg --checkpoint RUN [--data DIR] [--split val] [--mode whole|slide] [--crop H,W]
                           [--stride H,W] [--flip] [--scales 0.5,0.75,1,1.25,1.5,1.75] [--save-predictions DIR]
                           [--json out.json] [--backend X] [--no-progress]
       partialnet eval-seg --predictions DIR --labels DIR --classes N [--class-names FILE.txt]
                           [--reduce-zero-label] [--json out.json]

mmseg's IoUMetric on a split: intersection and union per class accumulated over all images, IoU and
Acc per class, mIoU / mAcc as the mean over classes with a defined value, aAcc. Prints the per-class
table (percent, 2 decimals); --json writes {aAcc, mIoU, mAcc, perClass: [{id, name, IoU, Acc}]} as
fractions (null where undefined).

With --checkpoint: a run folder or checkpoint folder of train-seg; the data folder and the test
settings default to the run's (whole-image inference at its scale). --mode slide averages
overlapping crops (default crop = the training crop, stride 2/3 of it); --flip and --scales add
test-time augmentation (probabilities averaged). --save-predictions writes label PNGs.

With --predictions: scores the label PNGs of another tool against the label PNGs in --labels,
matched by file name; both read as stored indices (palette PNGs give their indices).`;

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

export const evalSegCommand: Command = {
  name: 'eval-seg',
  summary: 'mIoU / mAcc / aAcc (mmseg) of a train-seg checkpoint, or of a folder of prediction PNGs',
  usage,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      checkpoint: { type: 'string' },
      data: { type: 'string' },
      split: { type: 'string' },
      mode: { type: 'string' },
      crop: { type: 'string' },
      stride: { type: 'string' },
      flip: { type: 'boolean', default: false },
      scales: { type: 'string' },
      'save-predictions': { type: 'string' },
      predictions: { type: 'string' },
      labels: { type: 'string' },
      classes: { type: 'string' },
      'class-names': { type: 'string' },
      'reduce-zero-label': { type: 'boolean', default: false },
      json: { type: 'string' },
      backend: { type: 'string' },
      'no-progress': { type: 'boolean', default: false },
    });
    if (values.predictions || values.labels) {
      if (!values.predictions || !values.labels || !values.classes) throw new UsageError('--predictions DIR, --labels DIR and --classes N go together');
      const n = numberFlag('classes', values.classes, NaN);
      if (!(Number.isInteger(n) && n >= 1 && n <= 255)) throw new UsageError(`--classes: expected an integer in 1..255, got '${values.classes}'`);
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
    await setupBackend(backendFlag(values.backend));
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
        const pair = (name: string, v: string | undefined, fallback: [number, number]): [number, number] => {
          if (v === undefined) return fallback;
          const s = numberListFlag(name, v, []);
          if (s.length !== 2 || !s.every((x) => Number.isInteger(x) && x >= 1)) throw new UsageError(`--${name}: expected H,W (positive integers), got '${v}'`);
          return [s[0]!, s[1]!];
        };
        const crop = pair('crop', values.crop, test.mode === 'slide' ? test.crop : cfg.cropSize);
        const stride = pair('stride', values.stride, test.mode === 'slide' ? test.stride : [Math.ceil((crop[0] * 2) / 3), Math.ceil((crop[1] * 2) / 3)]);
        test = { mode: 'slide', crop, stride };
      } else if (mode === 'whole') test = { mode: 'whole' };
      else throw new UsageError(`--mode: whole or slide, got '${mode}'`);
      const scales = values.scales === undefined ? undefined : numberListFlag('scales', values.scales, []);
      if (scales && !(scales.length > 0 && scales.every((s) => s > 0))) throw new UsageError(`--scales: positive ratios such as 0.75,1,1.25, got '${values.scales}'`);
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
};
