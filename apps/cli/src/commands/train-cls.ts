import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setupBackend } from '@partialnet/core';
import { formatSplitTable, learnedSplits, listVariants, type PartialNetConfig, type PartialNetVariant } from '@partialnet/backbone';
import { trainClassifier, type ClassificationRunConfig } from '@partialnet/pipeline';
import { UsageError } from '../command.js';
import { BACKEND_OPTION, NO_PROGRESS_OPTION, configOverrides, defineCommand } from '../options.js';

// No option has a default here: only the flags given go into the run config, so the library's
// defaults apply to a new run and, on --resume, a flag that differs from the saved run is refused
// rather than silently ignored.
export const trainClsCommand = defineCommand({
  name: 'train-cls',
  summary: 'train a PartialNet classifier (optionally with DPConv split search) on image folders',
  synopsis: '--data ROOT --out DIR [options]',
  description: `Trains a PartialNet classifier on an ImageNet-style folder: ROOT/train/<class>/*.jpg and
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

Unset options take the library's defaults (shown in brackets), or on --resume the run's saved values.`,
  options: {
    data: { type: 'string', arg: 'ROOT', help: 'image folders ROOT/train/<class>/..., ROOT/val/<class>/...', config: 'data' },
    out: { type: 'string', arg: 'DIR', required: true, help: 'run folder' },
    variant: { type: 'string', choices: listVariants(), help: 'PartialNet variant [t0]' },
    dpconv: { type: 'boolean', help: 'DPConv split search (the official auto_div) with its loss terms' },
    epochs: { type: 'integer', min: 1, help: 'training epochs [30]', config: 'epochs' },
    batch: { type: 'integer', min: 1, help: 'images per step [64]', config: 'batchSize' },
    lr: { type: 'number', arg: 'LR', above: 0, help: 'peak learning rate [1e-3]', config: 'lr' },
    size: { type: 'integer', arg: 'PX', min: 32, help: "input side, at least 32, the backbone's minimum [224]", config: 'size' },
    'weight-decay': { type: 'number', arg: 'W', min: 0, help: 'AdamW weight decay, not on 1-D parameters [0.05]', config: 'weightDecay' },
    'warmup-epochs': { type: 'number', min: 0, help: 'linear warmup length [1]', config: 'warmupEpochs' },
    'min-lr': { type: 'number', arg: 'LR', min: 0, help: 'cosine floor [1e-5]', config: 'minLr' },
    smoothing: { type: 'number', arg: 'S', min: 0, below: 1, help: 'label smoothing [0.1]', config: 'smoothing' },
    'crop-scale': { type: 'numbers', arg: 'MIN,MAX', count: 2, above: 0, max: 1, help: 'RandomResizedCrop area range [0.08,1]', config: 'cropScale' },
    mixup: { type: 'number', arg: 'A', min: 0, help: 'mixup alpha, 0: off [0]', config: 'mixup' },
    cutmix: { type: 'number', arg: 'A', min: 0, help: 'cutmix alpha, 0: off [0]', config: 'cutmix' },
    'embed-dim': { type: 'integer', min: 1, help: 'custom stage-1 width (overrides the variant)' },
    depths: { type: 'integers', arg: 'a,b,c,d', count: 4, min: 1, help: 'custom blocks per stage (overrides the variant)' },
    'dpconv-b': { type: 'number', arg: 'B', above: 0, help: 'DPConv complexity budget b [2]' },
    'dpconv-alpha': { type: 'number', arg: 'A', help: 'DPConv penalize_alpha; negative penalises complexity above the budget [-1]' },
    'dpconv-theta': { type: 'number', arg: 'T', min: 0, help: 'DPConv band theta [0]' },
    'gate-alpha': { type: 'number', arg: 'A', min: 0, help: 'weight of the gate-order loss [0.1]' },
    'pre-epoch': { type: 'integer', min: 0, help: 'epoch at which the DPConv search starts [0]' },
    'gate-init': { type: 'number', arg: 'S', above: 0, below: 1, help: '|g| of the DPConv gates at init [1e-8, official]' },
    'gate-lr-scale': { type: 'number', arg: 'F', min: 0, help: 'lr multiplier of the DPConv gates [1]', config: 'gateLrScale' },
    'eval-every': { type: 'integer', min: 0, help: 'evaluate every N epochs [1]', config: 'evalEvery' },
    'checkpoint-every': { type: 'integer', min: 0, help: 'checkpoint every N iterations besides each epoch end [0]', config: 'checkpointEvery' },
    'clip-grad': { type: 'number', arg: 'N', min: 0, help: 'clip the gradient norm at N, 0: off; allowed with --resume [0]', config: 'clipGradNorm' },
    resume: { type: 'boolean', help: "continue the run's newest checkpoint exactly" },
    'reset-optimizer': { type: 'boolean', help: "with --resume: start the optimizer's state afresh" },
    overwrite: { type: 'boolean', help: 'start a new run in a non-empty --out, deleting what it holds' },
    seed: { type: 'integer', arg: 'S', min: 0, help: 'random seed [0]', config: 'seed' },
    cache: { type: 'string', choices: ['on', 'off'], help: 'keep decoded images in memory [on when they fit]' },
    backend: BACKEND_OPTION,
    'no-progress': NO_PROGRESS_OPTION,
  },
  async run(values) {
    if (!values.data && !values.resume) throw new UsageError('--data ROOT is required (ROOT/train/<class>/..., ROOT/val/<class>/...)');
    if (values.resume && values.overwrite) throw new UsageError('--resume continues the run in --out, --overwrite deletes it: give one');
    if (values['reset-optimizer'] && !values.resume) throw new UsageError('--reset-optimizer applies to --resume only');
    const config = configOverrides(trainClsCommand.options, values) as ClassificationRunConfig;
    if (values.variant !== undefined) config.variant = values.variant as PartialNetVariant;
    if (values.cache !== undefined) config.cache = values.cache === 'on';
    const model: Partial<PartialNetConfig> = {};
    if (values['embed-dim'] !== undefined) model.embedDim = values['embed-dim'];
    if (values.depths !== undefined) model.depths = values.depths;
    if (values['gate-init'] !== undefined) model.gateInitScale = values['gate-init'];
    if (values['pre-epoch'] !== undefined) model.preEpoch = values['pre-epoch'];
    if (Object.keys(model).length > 0) config.model = model;
    if (values.dpconv) {
      config.dpconv = {
        b: values['dpconv-b'] ?? 2,
        alpha: values['dpconv-alpha'] ?? -1,
        theta: values['dpconv-theta'] ?? 0,
        gateAlpha: values['gate-alpha'] ?? 0.1,
      };
    }

    const report = await setupBackend(values.backend);
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
});
