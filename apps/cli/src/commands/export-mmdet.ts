import { exportMmdet } from '@partialnet/pipeline';
import { numberFlag, parseCommandArgs } from '../args.js';
import { UsageError, type Command } from '../command.js';

const usage = `usage: partialnet export mmdet --checkpoint RUN|CHECKPOINT --out DIR [--gpus 8] [--force]

Writes a run's detector for mmdetection 2.x: DIR/model.pth (meta with CLASSES, epoch, iter and the
config; state_dict with mmdet names), DIR/config.py (an mmdet 2.x config equivalent to the run's:
model with train / test cfg, data pipeline, optimizer, schedule, runtime; data paths are
placeholders; load_from model.pth) and DIR/partialnet_backbone.py (registers the official
PartialNet model code as the PartialNetTS backbone). Train at scale from the official repository's
detection/ folder with tools/dist_train.sh DIR/config.py GPUS, and bring the result back with
partialnet import mmdet. --gpus sets the GPU count the SGD learning rate is scaled for.`;

export const exportMmdetCommand: Command = {
  name: 'export mmdet',
  summary: 'write a run as an mmdetection checkpoint (.pth) and an mmdet 2.x config',
  usage,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      checkpoint: { type: 'string' },
      out: { type: 'string' },
      gpus: { type: 'string' },
      force: { type: 'boolean' },
    });
    if (!values.checkpoint) throw new UsageError('--checkpoint RUN is required');
    if (!values.out) throw new UsageError('--out DIR is required');
    const gpus = numberFlag('gpus', values.gpus, 8);
    if (!(Number.isInteger(gpus) && gpus >= 1)) throw new UsageError(`--gpus: expected a positive integer, got '${values.gpus}'`);
    const r = await exportMmdet({ checkpoint: values.checkpoint, outDir: values.out, gpus, overwrite: values.force === true });
    console.log(`wrote ${r.tensors} tensors to ${r.weights}, the mmdet config ${r.config} and ${r.backboneModule}`);
    return 0;
  },
};
