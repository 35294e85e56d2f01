import { importMmdetCheckpoint, readRunConfig } from '@partialnet/pipeline';
import { parseCommandArgs } from '../args.js';
import { UsageError, type Command } from '../command.js';

const usage = `usage: partialnet import mmdet --checkpoint X.pth --preset NAME | --config run.json --out RUN
                              [--classes names.txt|instances.json] [--data DIR] [--force]

Makes a run folder that eval and predict accept from an mmdetection 2.x checkpoint
({meta, state_dict, optimizer}; a plain state dict with mmdet names works too). The model is the
preset's (or the run config's): mask-rcnn-s-det / -m-det / -l-det for checkpoints of the official
PartialNet detection configs, any other preset or config for models trained from an exported
config. Every tensor must fit (names and shapes are checked; nothing is loaded otherwise).
Class names come from --classes (one per line, or a COCO annotation file whose categories give
names and ids), else from the checkpoint's meta.CLASSES; their count must equal the classifier's.
Category ids are 1..N unless a COCO file gives them. --data records the data folder for eval.`;

export const importMmdetCommand: Command = {
  name: 'import mmdet',
  summary: 'turn an mmdetection checkpoint (.pth) into a run folder for eval / predict',
  usage,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      checkpoint: { type: 'string' },
      preset: { type: 'string' },
      config: { type: 'string' },
      classes: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean' },
    });
    if (!values.checkpoint) throw new UsageError('--checkpoint X.pth is required');
    if (!values.out) throw new UsageError('--out RUN is required');
    if (!values.preset && !values.config) throw new UsageError('--preset NAME or --config run.json is required');
    const config = values.config ? await readRunConfig(values.config) : {};
    const r = await importMmdetCheckpoint({
      checkpoint: values.checkpoint,
      ...(values.preset ? { preset: values.preset } : {}),
      config: { ...config, ...(values.data ? { data: values.data } : {}) },
      ...(values.classes ? { classes: values.classes } : {}),
      outDir: values.out,
      overwrite: values.force === true,
    });
    const meta = Object.entries(r.meta)
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(', ');
    console.log(`imported ${r.tensors} tensors, ${r.classNames.length} classes (${r.classNames.slice(0, 6).join(', ')}${r.classNames.length > 6 ? ', ...' : ''}) into ${r.checkpointDir}${meta ? ` (meta: ${meta})` : ''}`);
    return 0;
  },
};
