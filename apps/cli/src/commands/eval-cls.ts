import { join } from 'node:path';
import { OnnxSession, setupBackend } from '@partialnet/core';
import { exportPartialNetOnnx, formatSplitTable, onnxLogits } from '@partialnet/backbone';
import { ClassificationSplit } from '@partialnet/data';
import { evaluateClassifier, openClassifierCheckpoint } from '@partialnet/pipeline';
import { UsageError } from '../command.js';
import { BACKEND_OPTION, RUNTIME_OPTIONS, defineCommand, runtimeChoice } from '../options.js';

export const evalClsCommand = defineCommand({
  name: 'eval-cls',
  summary: 'top-1 / top-5 of a train-cls checkpoint on an image folder',
  description: `Evaluates a train-cls checkpoint (a run folder: its latest checkpoint; or one checkpoint folder)
on ROOT/<split>/<class>/* and prints top-1 / top-5 (%) and the mean cross-entropy. The class
folders must be those the model was trained on. DPConv models are evaluated as the official code
does (partial conv with the learned split) and their split table is printed.
--runtime onnx computes the logits in ONNX Runtime: the checkpoint's model exported in memory, or
--onnx M.onnx (from 'partialnet export onnx').`,
  options: {
    checkpoint: { type: 'string', arg: 'PATH', required: true, help: 'a train-cls run folder or checkpoint folder' },
    data: { type: 'string', arg: 'ROOT', required: true, help: 'image-folder root (ROOT/<split>/<class>/*)' },
    split: { type: 'string', default: 'val', help: 'split folder under ROOT' },
    batch: { type: 'integer', default: 64, min: 1, help: 'images per batch' },
    size: { type: 'integer', arg: 'PX', min: 32, help: 'input size (default: the training size)' },
    backend: BACKEND_OPTION,
    json: { type: 'boolean', help: 'print one JSON line' },
    ...RUNTIME_OPTIONS,
  },
  async run(values) {
    const { batch } = values;
    const runtimeOptions = runtimeChoice(values);
    const backend = await setupBackend(values.backend);
    const { dir, info, model } = await openClassifierCheckpoint(values.checkpoint);
    const size = values.size ?? info.config.size;
    const split = await ClassificationSplit.open(join(values.data, values.split));
    if (split.classNames.join('\n') !== info.classNames.join('\n')) {
      model.dispose();
      throw new Error(
        `eval-cls: the class folders of ${join(values.data, values.split)} (${split.classNames.length}: ${split.classNames.slice(0, 5).join(', ')}...) ` +
          `are not the ${info.classNames.length} classes the model was trained on (${info.classNames.slice(0, 5).join(', ')}...)`,
      );
    }
    let session: OnnxSession | undefined;
    if (runtimeOptions.runtime === 'onnx') {
      if (model.config.autoDiv) {
        model.dispose();
        throw new UsageError('--runtime onnx: a DPConv (autoDiv) model has no ONNX export; bake its splits first');
      }
      const sessionOptions = { ...(runtimeOptions.threads ? { threads: runtimeOptions.threads } : {}), provider: runtimeOptions.provider };
      session = runtimeOptions.onnxFile
        ? await OnnxSession.open(runtimeOptions.onnxFile, sessionOptions)
        : await OnnxSession.fromBytes(Buffer.concat((await exportPartialNetOnnx(model)).chunks), `${dir} (exported in memory)`, sessionOptions);
    }
    const runtimeName = session ? `onnxruntime-node ${session.version} (${session.provider}, ${session.threads} threads)` : `backend ${backend.name}`;
    const t0 = performance.now();
    let r;
    try {
      r = await evaluateClassifier(model, split, size, batch, session ? onnxLogits(session) : undefined);
    } finally {
      await session?.dispose();
    }
    const seconds = (performance.now() - t0) / 1000;
    if (values.json) {
      console.log(JSON.stringify({ checkpoint: dir, split: values.split, size, backend: backend.name, runtime: runtimeOptions.runtime, ...r, seconds }));
    } else {
      console.log(`${dir}: ${r.images} images (${values.split}, ${size}px, ${runtimeName}) in ${seconds.toFixed(1)} s`);
      console.log(`top-1 ${r.top1.toFixed(2)}%  top-5 ${r.top5.toFixed(2)}%  loss ${r.loss.toFixed(4)}`);
      if (model.config.autoDiv) console.log(`\nlearned splits:\n${formatSplitTable(model, { inputSize: size })}`);
    }
    model.dispose();
    return 0;
  },
});
