import { setupBackend } from '@partialnet/core';
import { getSegPreset, listSegPresets } from '@partialnet/segmentation';
import { readSegRunConfig, trainSegmenter, type SegRunConfig } from '@partialnet/pipeline';
import { backendFlag, numberFlag, numberListFlag, parseCommandArgs } from '../args.js';
import { UsageError, type Command } from '../command.js';

const usage = `usage: partialnet train-seg (--preset NAME | --config FILE.json) --data DIR --out RUN [--iters N] [--batch N]
                            [--lr LR] [--scale LONG,SHORT] [--crop H,W] [--ratio LO,HI] [--no-photometric]
                            [--bn train|eval|frozen] [--backbone-weights FILE.safetensors] [--reduce-zero-label true|false]
                            [--eval-every N] [--checkpoint-every N] [--workers N] [--seed S] [--resume]
                            [--backend auto|wasm|cpu|webgpu|tfjs-node|tfjs-node-gpu] [--no-progress]
       partialnet train-seg --list-presets

Trains Semantic FPN with a PartialNet backbone. DIR is a \`partialnet data synth\` folder (its
semantic PNGs), an ADE20K folder (images/{training,validation}, annotations/...; labels reduced by
one, 0 ignored) or DIR/img_dir/{train,val} + DIR/ann_dir/{train,val} + DIR/classes.txt. Label PNGs
may be single-channel or palette PNGs (their indices are read); 255 is ignored.

RUN gets log.jsonl, checkpoints/iter_N/ (weights with mmseg names, optimizer, state.json with the
resolved config; --resume continues the newest one exactly) and curve.png; mIoU is measured on the
val split every --eval-every epochs and at the end, and the per-class table printed.

Defaults (the PoolFormer / PVT Semantic FPN recipe on ADE20K): AdamW lr 2e-4 wd 1e-4, poly (power
0.9) to 0 over the iterations, no warmup, batch 4; 40k iterations at batch 32 on ADE20K's 20,210
images, kept as the same number of epochs for this data and batch unless --iters is given (the
scaling is printed and saved); mmseg's ADE20K pipeline: RandomResize 0.5-2.0 of 2048x512 (keep
ratio), RandomCrop 512x512 with cat_max_ratio 0.75, flip 0.5, photometric distortion, pad to the
crop with 255; whole-image inference at 2048x512.`;

export const trainSegCommand: Command = {
  name: 'train-seg',
  summary: 'train Semantic FPN (PartialNet backbone) for semantic segmentation; mIoU on val',
  usage,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      preset: { type: 'string' },
      config: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      iters: { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      scale: { type: 'string' },
      crop: { type: 'string' },
      ratio: { type: 'string' },
      'no-photometric': { type: 'boolean', default: false },
      bn: { type: 'string' },
      'backbone-weights': { type: 'string' },
      'reduce-zero-label': { type: 'string' },
      'eval-every': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      workers: { type: 'string' },
      seed: { type: 'string' },
      resume: { type: 'boolean', default: false },
      backend: { type: 'string' },
      'no-progress': { type: 'boolean', default: false },
      'list-presets': { type: 'boolean', default: false },
    });
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
    const config: SegRunConfig = { ...(values.config ? await readSegRunConfig(values.config) : {}), ...(values.preset ? { preset: values.preset } : {}) };
    const int = (name: string, v: string | undefined, min = 1): number | undefined => {
      if (v === undefined) return undefined;
      const n = numberFlag(name, v, NaN);
      if (!(Number.isInteger(n) && n >= min)) throw new UsageError(`--${name}: expected an integer >= ${min}, got '${v}'`);
      return n;
    };
    const pair = (name: string, v: string | undefined, ok: (x: number) => boolean, what: string): [number, number] | undefined => {
      if (v === undefined) return undefined;
      const s = numberListFlag(name, v, []);
      if (s.length !== 2 || !s.every(ok)) throw new UsageError(`--${name}: expected ${what}, got '${v}'`);
      return [s[0]!, s[1]!];
    };
    const set = <K extends keyof SegRunConfig>(key: K, v: SegRunConfig[K] | undefined) => {
      if (v !== undefined) config[key] = v;
    };
    set('data', values.data);
    set('iters', int('iters', values.iters));
    set('batchSize', int('batch', values.batch));
    set('lr', values.lr === undefined ? undefined : numberFlag('lr', values.lr, NaN));
    set('scale', pair('scale', values.scale, (x) => Number.isInteger(x) && x >= 32, 'LONG,SHORT such as 2048,512'));
    set('cropSize', pair('crop', values.crop, (x) => Number.isInteger(x) && x >= 32, 'H,W such as 512,512 (integers >= 32)'));
    set('ratioRange', pair('ratio', values.ratio, (x) => x > 0, 'LO,HI such as 0.5,2'));
    if (values['no-photometric']) config.photometric = false;
    if (values.bn !== undefined && !['train', 'eval', 'frozen'].includes(values.bn)) throw new UsageError(`--bn: train, eval or frozen, got '${values.bn}'`);
    set('bnMode', values.bn as SegRunConfig['bnMode']);
    set('backboneWeights', values['backbone-weights']);
    const rzl = values['reduce-zero-label'];
    if (rzl !== undefined && rzl !== 'true' && rzl !== 'false') throw new UsageError(`--reduce-zero-label: true or false, got '${rzl}'`);
    if (rzl !== undefined) config.reduceZeroLabel = rzl === 'true';
    set('evalEvery', int('eval-every', values['eval-every'], 0));
    set('checkpointEvery', int('checkpoint-every', values['checkpoint-every'], 0));
    set('workers', int('workers', values.workers, 0));
    set('seed', int('seed', values.seed, 0));
    if (!config.data && !values.resume) throw new UsageError('--data DIR is required (a shapes, ADE20K or img_dir/ann_dir folder)');

    const report = await setupBackend(backendFlag(values.backend));
    const r = await trainSegmenter(config, { outDir: values.out, resume: values.resume, progress: !values['no-progress'], print: (m) => console.log(m) });
    console.log(`done: ${r.train.iters} iters in ${r.train.seconds.toFixed(1)} s on ${report.name}; checkpoint ${r.train.checkpoint}; curve ${r.curve}`);
    if (r.eval) {
      const m = r.eval.metrics;
      console.log(`val (${r.eval.images} images, ${r.eval.imgPerSec.toFixed(2)} img/s): mIoU ${(m.mIoU * 100).toFixed(2)}  mAcc ${(m.mAcc * 100).toFixed(2)}  aAcc ${(m.aAcc * 100).toFixed(2)}`);
    }
    return 0;
  },
};
