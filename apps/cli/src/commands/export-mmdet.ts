import { exportMmdet } from '@partialnet/pipeline';
import { defineCommand } from '../options.js';

export const exportMmdetCommand = defineCommand({
  name: 'export mmdet',
  summary: 'write a run as an mmdetection checkpoint (.pth) and an mmdet 2.x config',
  description: `Writes a run's detector for mmdetection 2.x: DIR/model.pth (meta with CLASSES, epoch, iter and the
config; state_dict with mmdet names), DIR/config.py (an mmdet 2.x config equivalent to the run's:
model with train / test cfg, data pipeline, optimizer, schedule, runtime; data paths are
placeholders; load_from model.pth) and DIR/partialnet_backbone.py (registers the official
PartialNet model code as the PartialNetTS backbone). Train at scale from the official repository's
detection/ folder with tools/dist_train.sh DIR/config.py GPUS, and bring the result back with
partialnet import mmdet.`,
  options: {
    checkpoint: { type: 'string', arg: 'RUN|CHECKPOINT', required: true, help: 'a train run folder (its newest checkpoint) or one checkpoint folder' },
    out: { type: 'string', arg: 'DIR', required: true, help: 'folder for model.pth, config.py and partialnet_backbone.py' },
    gpus: { type: 'integer', default: 8, min: 1, help: 'GPUs the config is written for (scales the SGD learning rate)' },
    force: { type: 'boolean', help: 'replace existing files in DIR' },
  },
  async run(values) {
    const r = await exportMmdet({ checkpoint: values.checkpoint, outDir: values.out, gpus: values.gpus, overwrite: values.force });
    console.log(`wrote ${r.tensors} tensors to ${r.weights}, the mmdet config ${r.config} and ${r.backboneModule}`);
    return 0;
  },
});
