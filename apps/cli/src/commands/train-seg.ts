import { setupBackend } from '@partialnet/core';
import { formatSegTable } from '@partialnet/coco';
import { getSegPreset, listSegPresets } from '@partialnet/segmentation';
import { readSegRunConfig, trainSegmenter, type SegRunConfig } from '@partialnet/pipeline';
import { UsageError } from '../command.js';
import { BACKEND_OPTION, NO_PROGRESS_OPTION, configOverrides, defineCommand } from '../options.js';

export const trainSegCommand = defineCommand({
  name: 'train-seg',
  summary: 'train Semantic FPN (PartialNet backbone) for semantic segmentation; mIoU on val',
  synopsis: ['(--preset NAME | --config FILE.json) --data DIR --out RUN [options]', '--list-presets'],
  description: `Trains Semantic FPN with a PartialNet backbone. DIR is a \`partialnet data synth\` folder (its
semantic PNGs), an ADE20K folder (images/{training,validation}, annotations/...; labels reduced by
one, 0 ignored) or DIR/img_dir/{train,val} + DIR/ann_dir/{train,val} + DIR/classes.txt. Label PNGs
may be single-channel or palette PNGs (their indices are read); 255 is ignored.

RUN gets log.jsonl, checkpoints/iter_N/ (weights with mmseg names, optimizer, state.json with the
resolved config; --resume continues the newest one exactly) and curve.png; mIoU is measured on the
val split every --eval-every epochs and at the end, and the per-class table printed.

Defaults (the PoolFormer / PVT Semantic FPN recipe on ADE20K): AdamW lr 2e-4 wd 1e-4, poly (power
0.9) to 0 over the iterations, no warmup, batch 4; 40k iterations at batch 32 on ADE20K's 20,210
images, kept as the same number of epochs for this data and batch unless --iters is given (the
scaling is printed and saved; iterations are rounded to whole epochs); mmseg's ADE20K pipeline:
RandomResize 0.5-2.0 of 2048x512 (keep ratio), RandomCrop 512x512 with cat_max_ratio 0.75, flip 0.5,
photometric distortion, pad to the crop with 255; whole-image inference at 2048x512.`,
  options: {
    preset: { type: 'string', arg: 'NAME', help: 'segmentation preset (--list-presets)', config: 'preset' },
    config: { type: 'string', arg: 'FILE.json', help: 'run config file; flags override its fields' },
    data: { type: 'string', arg: 'DIR', help: 'a shapes, ADE20K or img_dir/ann_dir folder', config: 'data' },
    out: { type: 'string', arg: 'RUN', help: 'run folder' },
    iters: { type: 'integer', min: 1, help: 'optimizer steps (default: the recipe scaled to the data)', config: 'iters' },
    batch: { type: 'integer', min: 1, help: 'images per step', config: 'batchSize' },
    lr: { type: 'number', arg: 'LR', above: 0, help: 'base learning rate', config: 'lr' },
    scale: { type: 'integers', arg: 'LONG,SHORT', count: 2, min: 32, help: 'base scale of RandomResize and of the test resize', config: 'scale' },
    crop: { type: 'integers', arg: 'H,W', count: 2, min: 32, help: 'training crop', config: 'cropSize' },
    ratio: { type: 'numbers', arg: 'LO,HI', count: 2, above: 0, help: 'RandomResize ratio range', config: 'ratioRange' },
    'no-photometric': { type: 'boolean', help: 'no photometric distortion' },
    bn: { type: 'string', choices: ['train', 'eval', 'frozen'], help: 'BatchNorm mode of the backbone', config: 'bnMode' },
    'backbone-weights': { type: 'string', arg: 'FILE.safetensors', help: 'ImageNet weights of the backbone', config: 'backboneWeights' },
    'reduce-zero-label': { type: 'string', choices: ['true', 'false'], help: "override the layout's reduce_zero_label" },
    'eval-every': { type: 'integer', min: 0, help: 'evaluate every N epochs (0: only at the end)', config: 'evalEvery' },
    'checkpoint-every': { type: 'integer', min: 0, help: 'checkpoint every N iterations besides each epoch end', config: 'checkpointEvery' },
    workers: { type: 'integer', min: 0, help: 'decoding worker threads', config: 'workers' },
    seed: { type: 'integer', arg: 'S', min: 0, help: 'random seed', config: 'seed' },
    resume: { type: 'boolean', help: "continue the run's newest checkpoint exactly" },
    backend: BACKEND_OPTION,
    'no-progress': NO_PROGRESS_OPTION,
    'list-presets': { type: 'boolean', help: 'list the presets and exit' },
  },
  async run(values) {
    if (values['list-presets']) {
      const width = Math.max(...listSegPresets().map((n) => n.length));
      for (const name of listSegPresets()) {
        const c = getSegPreset(name);
        console.log(`${name.padEnd(width)}  Semantic FPN, FPN ${c.neck.outChannels} ch on strides 4-32, FPNHead ${c.head.channels} ch, PartialNet-${String(c.backbone.variant).toUpperCase()} backbone`);
      }
      return 0;
    }
    if (!values.out) throw new UsageError('--out RUN is required');
    if (values.preset && values.config) throw new UsageError('give --preset or --config, not both (a config file names its preset)');
    if (!values.preset && !values.config && !values.resume) throw new UsageError(`--preset NAME or --config FILE is required (presets: ${listSegPresets().join(', ')})`);
    if (values.preset && !(listSegPresets() as string[]).includes(values.preset)) throw new UsageError(`--preset: unknown preset '${values.preset}' (known: ${listSegPresets().join(', ')})`);
    const config: SegRunConfig = { ...(values.config ? await readSegRunConfig(values.config) : {}), ...(configOverrides(trainSegCommand.options, values) as SegRunConfig) };
    if (values['no-photometric']) config.photometric = false;
    if (values['reduce-zero-label'] !== undefined) config.reduceZeroLabel = values['reduce-zero-label'] === 'true';
    if (!config.data && !values.resume) throw new UsageError('--data DIR is required (a shapes, ADE20K or img_dir/ann_dir folder)');

    const report = await setupBackend(values.backend);
    const r = await trainSegmenter(config, { outDir: values.out, resume: values.resume, progress: !values['no-progress'], print: (m) => console.log(m) });
    console.log(`done: ${r.train.iters} iters in ${r.train.seconds.toFixed(1)} s on ${report.name}; checkpoint ${r.train.checkpoint}; curve ${r.curve}`);
    if (r.eval) {
      const m = r.eval.metrics;
      console.log(`\n${formatSegTable(m)}`);
      console.log(`val (${r.eval.images} images, ${r.eval.imgPerSec.toFixed(2)} img/s): mIoU ${(m.mIoU * 100).toFixed(2)}  mAcc ${(m.mAcc * 100).toFixed(2)}  aAcc ${(m.aAcc * 100).toFixed(2)}`);
    }
    return 0;
  },
});
