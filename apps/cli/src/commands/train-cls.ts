import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setupBackend } from '@partialnet/core';
import { formatSplitTable, isVariant, learnedSplits, type DPConvLossOptions, type PartialNetConfig } from '@partialnet/backbone';
import { trainClassifier, type ClassificationRunConfig } from '@partialnet/pipeline';
import { backendFlag, numberFlag, numberListFlag, parseCommandArgs } from '../args.js';
import { UsageError, type Command } from '../command.js';

const usage = `usage: partialnet train-cls --data ROOT --out DIR [--variant t0] [--dpconv] [--epochs N] [--batch N] [--lr LR]
                         [--size PX] [--weight-decay W] [--warmup-epochs N] [--min-lr LR] [--smoothing S]
                         [--crop-scale MIN,MAX] [--mixup A] [--cutmix A] [--embed-dim N] [--depths a,b,c,d]
                         [--dpconv-b B] [--dpconv-alpha=A] [--dpconv-theta T] [--gate-alpha A] [--pre-epoch N]
                         [--gate-init S] [--gate-lr-scale F]
                         [--eval-every N] [--checkpoint-every N] [--seed S] [--cache on|off] [--clip-grad N]
                         [--resume [--reset-optimizer]] [--overwrite]
                         [--backend auto|wasm|cpu|webgpu|tfjs-node|tfjs-node-gpu] [--no-progress]

Trains a PartialNet classifier on an ImageNet-style folder: ROOT/train/<class>/*.jpg and
ROOT/val/<class>/*.jpg (the same class folders). The official recipe pieces that matter at small
scale: AdamW (no weight decay on 1-D parameters: norms, biases, DPConv gates), cosine schedule with
linear warmup, label smoothing, RandomResizedCrop + horizontal flip, optional mixup / cutmix.
Evaluates top-1 / top-5 on val (crop 87.5%) every --eval-every epochs. DIR gets log.jsonl, TensorBoard
events, checkpoints/ and, with --dpconv, splits.txt / splits.json. A DIR that holds anything is
refused unless --resume or --overwrite. --resume continues exactly with the run's saved settings
(batch, lr, epochs, size, classes...): only --data, --eval-every, --checkpoint-every, --cache may
change, and --lr / --clip-grad as overrides recorded in log.jsonl; other differing flags are refused,
and so is a checkpoint without optimizer.safetensors unless --reset-optimizer.

--dpconv makes every block's token mixer a DPConv (the official auto_div) and adds the official
loss terms: loss = CE * (G / R)^e + gate_alpha * gate-order loss, where R counts the masks' live
connections, G = sum(C^2) / b^2 and e = alpha when R > G (else 0; theta > 0 adds the official band).
alpha is the official penalize_alpha: NEGATIVE values penalise complexity above the budget. b = 2 is
the budget of the static n_div = 4; a larger b asks for sparser (larger c_div) splits. Write negative
values with '=' (--dpconv-alpha=-2). Gates start in the order that encodes n_div = 4 with |g| =
--gate-init (official 1e-8: the first steps decide every sign); --gate-lr-scale multiplies their lr.

Defaults: --variant t0 --epochs 30 --batch 64 --lr 1e-3 --size 224 --weight-decay 0.05
--warmup-epochs 1 --min-lr 1e-5 --smoothing 0.1 --crop-scale 0.08,1 --mixup 0 --cutmix 0
--dpconv-b 2 --dpconv-alpha=-1 --dpconv-theta 0 --gate-alpha 0.1 --pre-epoch 0 --gate-init 1e-8
--gate-lr-scale 1 --eval-every 1 --seed 0`;

export const trainClsCommand: Command = {
  name: 'train-cls',
  summary: 'train a PartialNet classifier (optionally with DPConv split search) on image folders',
  usage,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      data: { type: 'string' },
      out: { type: 'string' },
      variant: { type: 'string' },
      dpconv: { type: 'boolean', default: false },
      epochs: { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      size: { type: 'string' },
      'weight-decay': { type: 'string' },
      'warmup-epochs': { type: 'string' },
      'min-lr': { type: 'string' },
      smoothing: { type: 'string' },
      'crop-scale': { type: 'string' },
      mixup: { type: 'string' },
      cutmix: { type: 'string' },
      'embed-dim': { type: 'string' },
      depths: { type: 'string' },
      'dpconv-b': { type: 'string' },
      'dpconv-alpha': { type: 'string' },
      'dpconv-theta': { type: 'string' },
      'gate-alpha': { type: 'string' },
      'pre-epoch': { type: 'string' },
      'gate-init': { type: 'string' },
      'gate-lr-scale': { type: 'string' },
      'eval-every': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      'clip-grad': { type: 'string' },
      resume: { type: 'boolean', default: false },
      'reset-optimizer': { type: 'boolean', default: false },
      overwrite: { type: 'boolean', default: false },
      seed: { type: 'string' },
      cache: { type: 'string' },
      backend: { type: 'string' },
      'no-progress': { type: 'boolean', default: false },
    });
    if (!values.data && !values.resume) throw new UsageError('--data ROOT is required (ROOT/train/<class>/..., ROOT/val/<class>/...)');
    if (!values.out) throw new UsageError('--out DIR is required');
    if (values.resume && values.overwrite) throw new UsageError('--resume continues the run in --out, --overwrite deletes it: give one');
    if (values['reset-optimizer'] && !values.resume) throw new UsageError('--reset-optimizer applies to --resume only');
    // Only the flags given go into the config: defaults are the library's, and on --resume a flag
    // that differs from the saved run is refused rather than silently ignored.
    const config: ClassificationRunConfig = {};
    const num = (flag: string, v: string | undefined): number | undefined => (v === undefined ? undefined : numberFlag(flag, v, NaN));
    const set = <K extends keyof ClassificationRunConfig>(key: K, v: ClassificationRunConfig[K] | undefined) => {
      if (v !== undefined) config[key] = v;
    };
    if (values.variant !== undefined) {
      const variant = values.variant.toLowerCase();
      if (!isVariant(variant)) throw new UsageError(`--variant: unknown variant '${values.variant}'`);
      config.variant = variant;
    }
    set('data', values.data);
    set('epochs', num('epochs', values.epochs));
    set('batchSize', num('batch', values.batch));
    set('lr', num('lr', values.lr));
    set('size', num('size', values.size));
    set('weightDecay', num('weight-decay', values['weight-decay']));
    set('warmupEpochs', num('warmup-epochs', values['warmup-epochs']));
    set('minLr', num('min-lr', values['min-lr']));
    set('smoothing', num('smoothing', values.smoothing));
    if (values['crop-scale'] !== undefined) {
      const cs = numberListFlag('crop-scale', values['crop-scale'], []);
      if (cs.length !== 2) throw new UsageError(`--crop-scale: expected MIN,MAX in (0, 1], got '${values['crop-scale']}'`);
      config.cropScale = [cs[0]!, cs[1]!];
    }
    set('mixup', num('mixup', values.mixup));
    set('cutmix', num('cutmix', values.cutmix));
    set('gateLrScale', num('gate-lr-scale', values['gate-lr-scale']));
    set('evalEvery', num('eval-every', values['eval-every']));
    set('checkpointEvery', num('checkpoint-every', values['checkpoint-every']));
    set('clipGradNorm', num('clip-grad', values['clip-grad']));
    set('seed', num('seed', values.seed));
    if (values.cache !== undefined) {
      if (values.cache !== 'on' && values.cache !== 'off') throw new UsageError(`--cache: on or off, got '${values.cache}'`);
      config.cache = values.cache === 'on';
    }
    const model: Partial<PartialNetConfig> = {};
    if (values['embed-dim'] !== undefined) model.embedDim = numberFlag('embed-dim', values['embed-dim'], 0);
    if (values.depths !== undefined) model.depths = numberListFlag('depths', values.depths, []);
    if (values['gate-init'] !== undefined) model.gateInitScale = numberFlag('gate-init', values['gate-init'], 1e-8);
    if (values['pre-epoch'] !== undefined) model.preEpoch = numberFlag('pre-epoch', values['pre-epoch'], 0);
    if (Object.keys(model).length > 0) config.model = model;
    if (values.dpconv) {
      const dpconv: DPConvLossOptions = {
        b: numberFlag('dpconv-b', values['dpconv-b'], 2),
        alpha: numberFlag('dpconv-alpha', values['dpconv-alpha'], -1),
        theta: numberFlag('dpconv-theta', values['dpconv-theta'], 0),
        gateAlpha: numberFlag('gate-alpha', values['gate-alpha'], 0.1),
      };
      config.dpconv = dpconv;
    }

    const report = await setupBackend(backendFlag(values.backend));
    const r = await trainClassifier(config, {
      outDir: values.out,
      resume: values.resume,
      overwrite: values.overwrite,
      resetOptimizer: values['reset-optimizer'],
      progress: !values['no-progress'],
      print: (m) => console.log(m),
    });
    try {
      const m = r.eval?.metrics;
      console.log(
        `done: ${r.train.iters} iters in ${r.train.seconds.toFixed(1)} s on ${report.name}` +
          `${m ? `; val top-1 ${m.top1!.toFixed(2)}%, top-5 ${m.top5!.toFixed(2)}%` : ''}; checkpoint ${r.train.checkpoint}`,
      );
      if (r.config.dpconv) {
        const table = formatSplitTable(r.model, { inputSize: r.config.size });
        console.log(`\nlearned splits:\n${table}`);
        await writeFile(join(values.out, 'splits.txt'), `${table}\n`);
        await writeFile(join(values.out, 'splits.json'), `${JSON.stringify(learnedSplits(r.model), null, 2)}\n`);
      }
    } finally {
      r.model.dispose();
    }
    return 0;
  },
};
