import { setupBackend, wasmHeapBytes } from '@partialnet/core';
import { formatCategoryTable } from '@partialnet/coco';
import { getPreset, listPresets } from '@partialnet/detection';
import { formatApTable, readRunConfig, trainDetector, type DetectionRunConfig } from '@partialnet/pipeline';
import { UsageError } from '../command.js';
import { BACKEND_OPTION, NO_PROGRESS_OPTION, configOverrides, defineCommand } from '../options.js';

export const trainCommand = defineCommand({
  name: 'train',
  summary: 'train a RetinaNet / Mask R-CNN detector (PartialNet backbone) on COCO-format data',
  synopsis: ['(--preset NAME | --config FILE.json) --data DIR --out RUN [options]', '--list-presets'],
  description: `Trains a RetinaNet or Mask R-CNN with a PartialNet backbone on a COCO-format data set: DIR is a
\`partialnet data synth\` folder or DIR/annotations/instances_{train,val}.json + DIR/{train,val}/.
Evaluates COCO AP on the val split every --eval-every epochs and at the end, and prints the AP table.

RUN gets log.jsonl (losses, lr, img/s, tensor count per logged step; every evaluation), TensorBoard
events (events.out.tfevents.*), checkpoints/iter_N/ (weights, optimizer, state.json with the resolved
config), results.val.bbox.json / results.val.segm.json (the last evaluation) and curve.png.
A RUN folder that holds anything is refused unless --resume (continue it) or --overwrite (delete it).
--resume continues the newest checkpoint exactly with the saved config; only --data, --workers,
--eval-every, --checkpoint-every may change, and --lr / --clip-grad as overrides recorded in log.jsonl
and state.json; other flags that differ from the run are refused. A checkpoint without its
optimizer.safetensors is refused unless --reset-optimizer. --clip-grad N clips the global gradient
norm (0: off).

--micro-batch K cuts each batch into passes of K images whose gradients are accumulated into the
batch's step (same images and lr per step; BatchNorm statistics and loss normalisation per pass, as
each process's share under PyTorch DDP). On wasm (4 GiB heap) a batch of more than 1333x800 pixels
is cut so by default: the standard recipe (1333x800, batch 2) trains as 2 passes of 1 image. The
run's saved config records the value, so --resume repeats it on any backend.

--config FILE.json holds a run config (see the README): { "preset": "mask-rcnn-t0", "model": { overrides },
"epochs": 12, "batchSize": 2, "scale": [1333, 800], ... }; flags override its fields.

Defaults (the official PartialNet detection recipe, mmdet 1x): AdamW lr 2e-4 (1e-4 for M and L
backbones) wd 1e-4 (SGD: momentum 0.9, lr 0.02 * batch / 16 for Mask R-CNN, 0.01 * batch / 16 for
RetinaNet), 12 epochs, batch 2, linear warmup 500 iterations (at most a third of the run) from
0.001 x lr, lr x 0.1 at epochs 8 and 11 (scaled to --epochs), scale 1333,800, flip 0.5, BN trained
with batch statistics (as the official backbone, also with --backbone-weights), no gradient
clipping, --eval-every 1, seed 0.`,
  options: {
    preset: { type: 'string', arg: 'NAME', help: 'detection preset (--list-presets)', config: 'preset' },
    config: { type: 'string', arg: 'FILE.json', help: 'run config file; flags override its fields' },
    data: { type: 'string', arg: 'DIR', help: 'a shapes folder or a COCO layout', config: 'data' },
    out: { type: 'string', arg: 'RUN', help: 'run folder' },
    epochs: { type: 'integer', min: 1, help: 'training epochs', config: 'epochs' },
    batch: { type: 'integer', min: 1, help: 'images per step', config: 'batchSize' },
    'micro-batch': { type: 'integer', min: 1, help: 'images per forward/backward pass, a divisor of --batch (default: the batch; on wasm at most 1333x800 pixels)', config: 'microBatch' },
    lr: { type: 'number', arg: 'LR', above: 0, help: 'base learning rate', config: 'lr' },
    optimizer: { type: 'string', choices: ['adamw', 'sgd'], help: 'optimizer', config: 'optimizer' },
    schedule: { type: 'string', choices: ['step', 'cosine'], help: 'learning-rate schedule', config: 'schedule' },
    scale: { type: 'integers', arg: 'LONG,SHORT', count: 2, min: 32, help: 'resize scale', config: 'scale' },
    'frozen-stages': { type: 'integer', arg: 'K', min: -1, help: 'backbone stages kept frozen (-1: none)', config: 'frozenStages' },
    bn: { type: 'string', choices: ['train', 'eval', 'frozen'], help: 'BatchNorm mode', config: 'bnMode' },
    'backbone-weights': { type: 'string', arg: 'FILE', help: 'ImageNet weights of the backbone (.safetensors, .pth or .ckpt)', config: 'backboneWeights' },
    'eval-every': { type: 'integer', min: 0, help: 'evaluate every N epochs (0: only at the end)', config: 'evalEvery' },
    'checkpoint-every': { type: 'integer', min: 0, help: 'checkpoint every N iterations besides each epoch end', config: 'checkpointEvery' },
    workers: { type: 'integer', min: 0, help: 'decoding worker threads', config: 'workers' },
    seed: { type: 'integer', arg: 'S', min: 0, help: 'random seed', config: 'seed' },
    'clip-grad': { type: 'number', arg: 'N', min: 0, help: 'clip the gradient norm at N (0: off); allowed with --resume', config: 'clipGradNorm' },
    resume: { type: 'boolean', help: "continue the run's newest checkpoint exactly (--lr and --clip-grad may change)" },
    'reset-optimizer': { type: 'boolean', help: "with --resume: start the optimizer's state afresh (when optimizer.safetensors is lost)" },
    overwrite: { type: 'boolean', help: 'start a new run in a non-empty --out, deleting what it holds' },
    backend: BACKEND_OPTION,
    'no-progress': NO_PROGRESS_OPTION,
    'list-presets': { type: 'boolean', help: 'list the presets and exit' },
  },
  async run(values) {
    if (values['list-presets']) {
      const width = Math.max(...listPresets().map((n) => n.length));
      for (const name of listPresets()) {
        const c = getPreset(name);
        const heads = c.kind === 'retinanet' ? `RetinaNet, FPN P3-P7 (${c.neck.outChannels} ch)` : `Mask R-CNN, FPN P2-P6 (${c.neck.outChannels} ch), ${c.roi.bbox.sampler.num} RoIs, ${c.roi.bbox.fcChannels}-d box head`;
        console.log(`${name.padEnd(width)}  ${heads}, PartialNet-${c.backbone.variant.toUpperCase()} backbone`);
      }
      return 0;
    }
    if (!values.out) throw new UsageError('--out RUN is required');
    if (values.preset && values.config) throw new UsageError('give --preset or --config, not both (a config file names its preset)');
    const file: DetectionRunConfig = values.config ? await readRunConfig(values.config) : {};
    if (!values.preset && !values.config && !values.resume) throw new UsageError(`--preset NAME or --config FILE is required (presets: ${listPresets().join(', ')})`);
    if (values.preset && !listPresets().includes(values.preset)) throw new UsageError(`--preset: unknown preset '${values.preset}' (known: ${listPresets().join(', ')})`);

    const config: DetectionRunConfig = { ...file, ...(configOverrides(trainCommand.options, values) as DetectionRunConfig) };
    if (values.resume && values.overwrite) throw new UsageError('--resume continues the run in --out, --overwrite deletes it: give one');
    if (values['reset-optimizer'] && !values.resume) throw new UsageError('--reset-optimizer applies to --resume only');
    if (!config.data && !values.resume) throw new UsageError('--data DIR is required (a `partialnet data synth` folder or a COCO layout)');

    const report = await setupBackend(values.backend);
    const r = await trainDetector(config, {
      outDir: values.out,
      resume: values.resume,
      overwrite: values.overwrite,
      resetOptimizer: values['reset-optimizer'],
      progress: !values['no-progress'],
      print: (m) => console.log(m),
    });
    const heap = wasmHeapBytes();
    console.log(
      `done: ${r.train.iters} iters in ${r.train.seconds.toFixed(1)} s on ${report.name}; checkpoint ${r.train.checkpoint}; curve ${r.curve}` +
        (heap !== undefined ? `; wasm heap high-water ${(heap / 2 ** 20).toFixed(0)} MiB of 4096` : ''),
    );
    if (r.eval) {
      for (const t of ['bbox', 'segm'] as const) {
        const m = r.eval[t];
        if (!m) continue;
        console.log(`\n${t} (${m.resultsFile}, ${m.numResults} results):\n${m.summary}`);
        console.log(`\nper class (${t}):\n${formatCategoryTable(m.perCategory)}`);
      }
      console.log(`\nval AP (${r.eval.images} images, ${r.eval.imgPerSec.toFixed(2)} img/s):\n${formatApTable(r.eval)}`);
    }
    return 0;
  },
});
