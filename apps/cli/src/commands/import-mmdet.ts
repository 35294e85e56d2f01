import { importMmdetCheckpoint, readRunConfig } from '@partialnet/pipeline';
import { UsageError } from '../command.js';
import { defineCommand } from '../options.js';

export const importMmdetCommand = defineCommand({
  name: 'import mmdet',
  summary: 'turn an mmdetection checkpoint (.pth) into a run folder for eval / predict',
  synopsis: '--checkpoint X.pth (--preset NAME | --config run.json) --out RUN [options]',
  description: `Makes a run folder that eval and predict accept from an mmdetection 2.x checkpoint
({meta, state_dict, optimizer}; a plain state dict with mmdet names works too). The model is the
preset's (or the run config's): mask-rcnn-s-det / -m-det / -l-det for checkpoints of the official
PartialNet detection configs, any other preset or config for models trained from an exported
config. Every tensor must fit (names and shapes are checked; nothing is loaded otherwise).
Class names come from --classes (one per line, or a COCO annotation file whose categories give
names and ids), else from the checkpoint's meta.CLASSES; their count must equal the classifier's.
Category ids are 1..N unless a COCO file gives them. --data records the data folder for eval.`,
  options: {
    checkpoint: { type: 'string', arg: 'X.pth', required: true, help: 'the mmdetection checkpoint' },
    preset: { type: 'string', arg: 'NAME', help: 'detection preset of the model (e.g. mask-rcnn-s-det)' },
    config: { type: 'string', arg: 'FILE.json', help: 'run config describing the model (instead of --preset)' },
    classes: { type: 'string', arg: 'FILE', help: 'class names: a text file (one per line) or a COCO annotation file' },
    data: { type: 'string', arg: 'DIR', help: 'data folder recorded in the run (for eval)' },
    out: { type: 'string', arg: 'RUN', required: true, help: 'the run folder to create' },
    force: { type: 'boolean', help: 'replace a run folder that has checkpoints already' },
  },
  async run(values) {
    if (!values.preset && !values.config) throw new UsageError('--preset NAME or --config run.json is required');
    const config = values.config ? await readRunConfig(values.config) : {};
    const r = await importMmdetCheckpoint({
      checkpoint: values.checkpoint,
      ...(values.preset ? { preset: values.preset } : {}),
      config: { ...config, ...(values.data ? { data: values.data } : {}) },
      ...(values.classes ? { classes: values.classes } : {}),
      outDir: values.out,
      overwrite: values.force,
    });
    const meta = Object.entries(r.meta)
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(', ');
    console.log(`imported ${r.tensors} tensors, ${r.classNames.length} classes (${r.classNames.slice(0, 6).join(', ')}${r.classNames.length > 6 ? ', ...' : ''}) into ${r.checkpointDir}${meta ? ` (meta: ${meta})` : ''}`);
    return 0;
  },
});
