import { join } from 'node:path';
import { setupBackend } from '@partialnet/core';
import { formatSplitTable } from '@partialnet/backbone';
import { ClassificationSplit } from '@partialnet/data';
import { BACKEND_OPTION, defineCommand } from '../options.js';
import { evaluateClassifier, openClsCheckpoint } from './train-cls.js';

export const evalClsCommand = defineCommand({
  name: 'eval-cls',
  summary: 'top-1 / top-5 of a train-cls checkpoint on an image folder',
  description: `Evaluates a train-cls checkpoint (a run folder: its latest checkpoint; or one checkpoint folder)
on ROOT/<split>/<class>/* and prints top-1 / top-5 (%) and the mean cross-entropy. The class
folders must be those the model was trained on. DPConv models are evaluated as the official code
does (partial conv with the learned split) and their split table is printed.`,
  options: {
    checkpoint: { type: 'string', arg: 'PATH', required: true, help: 'a train-cls run folder or checkpoint folder' },
    data: { type: 'string', arg: 'ROOT', required: true, help: 'image-folder root (ROOT/<split>/<class>/*)' },
    split: { type: 'string', default: 'val', help: 'split folder under ROOT' },
    batch: { type: 'integer', default: 64, min: 1, help: 'images per batch' },
    size: { type: 'integer', arg: 'PX', min: 32, help: 'input size (default: the training size)' },
    backend: BACKEND_OPTION,
    json: { type: 'boolean', help: 'print one JSON line' },
  },
  async run(values) {
    const { batch } = values;
    const backend = await setupBackend(values.backend);
    const { dir, info, model } = await openClsCheckpoint(values.checkpoint);
    const size = values.size ?? info.size;
    const split = await ClassificationSplit.open(join(values.data, values.split));
    if (split.classNames.join('\n') !== info.classNames.join('\n')) {
      model.dispose();
      throw new Error(
        `eval-cls: the class folders of ${join(values.data, values.split)} (${split.classNames.length}: ${split.classNames.slice(0, 5).join(', ')}...) ` +
          `are not the ${info.classNames.length} classes the model was trained on (${info.classNames.slice(0, 5).join(', ')}...)`,
      );
    }
    const t0 = performance.now();
    const r = await evaluateClassifier(model, split, size, batch);
    const seconds = (performance.now() - t0) / 1000;
    if (values.json) {
      console.log(JSON.stringify({ checkpoint: dir, split: values.split, size, backend: backend.name, ...r, seconds }));
    } else {
      console.log(`${dir}: ${r.images} images (${values.split}, ${size}px, backend ${backend.name}) in ${seconds.toFixed(1)} s`);
      console.log(`top-1 ${r.top1.toFixed(2)}%  top-5 ${r.top5.toFixed(2)}%  loss ${r.loss.toFixed(4)}`);
      if (model.config.autoDiv) console.log(`\nlearned splits:\n${formatSplitTable(model, { inputSize: size })}`);
    }
    model.dispose();
    return 0;
  },
});
