import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AdamW,
  Trainer,
  crossEntropy,
  findLatestCheckpoint,
  loadCheckpoint,
  seedEverything,
  setupBackend,
  softCrossEntropy,
  tf,
  type TrainData,
} from '@partialnet/core';
import {
  PartialNet,
  dpconvLossTerms,
  formatSplitTable,
  listVariants,
  learnedSplits,
  setDPConvEpoch,
  syncDPConv,
  smoothOneHot,
  topKCorrect,
  type DPConvLossOptions,
  type PartialNetConfig,
  type PartialNetVariant,
} from '@partialnet/backbone';
import {
  ClassificationSplit,
  classificationEvalBatches,
  classificationTrainBatches,
  mixTargets,
  type ClassificationSource,
  type ClassificationTrainOptions,
} from '@partialnet/data';
import { BACKEND_OPTION, NO_PROGRESS_OPTION, formatOptions, parseOptions, type OptionSpecs } from '../options.js';
import { UsageError, type Command } from '../command.js';

// ---- data ------------------------------------------------------------------------------------

export interface ClsBatch {
  x: tf.Tensor4D;
  /** Integer labels (when no mixing happened). */
  labels?: tf.Tensor1D;
  /** Soft targets (mixup / cutmix). */
  targets?: tf.Tensor2D;
  size: number;
}

/** The data package's host batches as Trainer batches; mixed ones carry label-smoothed soft targets. */
function trainData(split: ClassificationSplit, o: ClassificationTrainOptions, smoothing: number): TrainData<ClsBatch> {
  const epochs = classificationTrainBatches(split, o);
  if (epochs.batchesPerEpoch < 1) throw new Error(`train-cls: ${split.length} training images are fewer than one batch of ${o.batchSize}`);
  const numClasses = split.classNames.length;
  return {
    batchesPerEpoch: epochs.batchesPerEpoch,
    async *batches(epoch: number, start: number) {
      for await (const b of epochs.batches(epoch, start)) {
        const n = b.labels.length;
        const x = tf.tensor4d(b.images, b.shape);
        if (b.mix) yield { x, targets: tf.tensor2d(mixTargets(smoothOneHot(b.labels, numClasses, smoothing), numClasses, b.mix.lam), [n, numClasses]), size: n };
        else yield { x, labels: tf.tensor1d(b.labels, 'int32'), size: n };
      }
    },
    disposeBatch(batch) {
      tf.dispose([batch.x, batch.labels, batch.targets].filter(Boolean) as tf.Tensor[]);
    },
    batchSize: (batch) => batch.size,
  };
}

export interface ClsEvalResult {
  top1: number;
  top5: number;
  loss: number;
  images: number;
}

/** Top-1 / top-5 (%) and mean cross-entropy on a split, eval transform, model in eval mode. */
export async function evaluateClassifier(model: PartialNet, split: ClassificationSource, size: number, batchSize: number): Promise<ClsEvalResult> {
  const wasTraining = model.isTraining;
  model.eval();
  const k = model.config.numClasses;
  let c1 = 0;
  let c5 = 0;
  let lossSum = 0;
  try {
    for await (const b of classificationEvalBatches(split, { size, batchSize })) {
      const [out, lossT] = tf.tidy(() => {
        const o = model.forward(tf.tensor4d(b.images, b.shape));
        return [o, crossEntropy(o, tf.tensor1d(b.labels, 'int32'))] as const;
      });
      const logits = (await out.data()) as Float32Array;
      const loss = (await lossT.data())[0]!;
      tf.dispose([out, lossT]);
      const [a, c] = topKCorrect(logits, b.labels, k, [1, Math.min(5, k)]);
      c1 += a!;
      c5 += c!;
      lossSum += loss * b.labels.length;
    }
  } finally {
    model.train(wasTraining);
  }
  const n = split.length;
  return { top1: (100 * c1) / n, top5: (100 * c5) / n, loss: lossSum / n, images: n };
}

// ---- the command -----------------------------------------------------------------------------

/** What a classification run saves with each checkpoint (`state.json` extra). */
export interface ClsRunInfo {
  task: 'classification';
  config: PartialNetConfig;
  classNames: string[];
  size: number;
  dpconv?: DPConvLossOptions;
}

const options = {
  data: { type: 'string', arg: 'ROOT', required: true, help: 'image folders ROOT/train/<class>/..., ROOT/val/<class>/...' },
  out: { type: 'string', arg: 'DIR', required: true, help: 'run folder' },
  variant: { type: 'string', default: 't0', choices: listVariants(), help: 'PartialNet variant' },
  dpconv: { type: 'boolean', help: 'DPConv split search (the official auto_div) with its loss terms' },
  epochs: { type: 'integer', default: 30, min: 1, help: 'training epochs' },
  batch: { type: 'integer', default: 64, min: 1, help: 'images per step' },
  lr: { type: 'number', arg: 'LR', default: 1e-3, above: 0, help: 'peak learning rate' },
  size: { type: 'integer', arg: 'PX', default: 224, min: 32, help: "input side (at least 32, the backbone's minimum)" },
  'weight-decay': { type: 'number', arg: 'W', default: 0.05, min: 0, help: 'AdamW weight decay (not on 1-D parameters)' },
  'warmup-epochs': { type: 'number', default: 1, min: 0, help: 'linear warmup length' },
  'min-lr': { type: 'number', arg: 'LR', default: 1e-5, min: 0, help: 'cosine floor' },
  smoothing: { type: 'number', arg: 'S', default: 0.1, min: 0, below: 1, help: 'label smoothing' },
  'crop-scale': { type: 'numbers', arg: 'MIN,MAX', default: [0.08, 1], count: 2, above: 0, max: 1, help: 'RandomResizedCrop area range' },
  mixup: { type: 'number', arg: 'A', default: 0, min: 0, help: 'mixup alpha (0: off)' },
  cutmix: { type: 'number', arg: 'A', default: 0, min: 0, help: 'cutmix alpha (0: off)' },
  'embed-dim': { type: 'integer', min: 1, help: 'custom stage-1 width (overrides the variant)' },
  depths: { type: 'integers', arg: 'a,b,c,d', count: 4, min: 1, help: 'custom blocks per stage (overrides the variant)' },
  'dpconv-b': { type: 'number', arg: 'B', default: 2, above: 0, help: 'DPConv complexity budget b' },
  'dpconv-alpha': { type: 'number', arg: 'A', default: -1, help: 'DPConv penalize_alpha (negative penalises complexity above the budget)' },
  'dpconv-theta': { type: 'number', arg: 'T', default: 0, min: 0, help: 'DPConv band theta' },
  'gate-alpha': { type: 'number', arg: 'A', default: 0.1, min: 0, help: 'weight of the gate-order loss' },
  'pre-epoch': { type: 'integer', default: 0, min: 0, help: 'epoch at which the DPConv search starts' },
  'gate-init': { type: 'number', arg: 'S', above: 0, below: 1, help: '|g| of the DPConv gates at init (official 1e-8)' },
  'gate-lr-scale': { type: 'number', arg: 'F', default: 1, min: 0, help: 'lr multiplier of the DPConv gates' },
  'eval-every': { type: 'integer', default: 1, min: 0, help: 'evaluate every N epochs' },
  'checkpoint-every': { type: 'integer', default: 0, min: 0, help: 'checkpoint every N iterations besides each epoch end' },
  resume: { type: 'boolean', help: "continue the run's newest checkpoint" },
  seed: { type: 'integer', arg: 'S', default: 0, min: 0, help: 'random seed' },
  cache: { type: 'string', choices: ['auto', 'on', 'off'], default: 'auto', help: 'keep decoded images in memory' },
  backend: BACKEND_OPTION,
  'no-progress': NO_PROGRESS_OPTION,
} as const satisfies OptionSpecs;

const usage = `usage: partialnet train-cls --data ROOT --out DIR [options]

Trains a PartialNet classifier on an ImageNet-style folder: ROOT/train/<class>/*.jpg and
ROOT/val/<class>/*.jpg (the same class folders). The official recipe pieces that matter at small
scale: AdamW (no weight decay on 1-D parameters: norms, biases, DPConv gates), cosine schedule with
linear warmup, label smoothing, RandomResizedCrop + horizontal flip, optional mixup / cutmix.
Evaluates top-1 / top-5 on val (crop 87.5%) every --eval-every epochs. DIR gets log.jsonl,
checkpoints/ (resume with --resume) and, with --dpconv, splits.txt / splits.json.

--dpconv makes every block's token mixer a DPConv (the official auto_div) and adds the official
loss terms: loss = CE * (G / R)^e + gate_alpha * gate-order loss, where R counts the masks' live
connections, G = sum(C^2) / b^2 and e = alpha when R > G (else 0; theta > 0 adds the official band).
alpha is the official penalize_alpha: NEGATIVE values penalise complexity above the budget. b = 2 is
the budget of the static n_div = 4; a larger b asks for sparser (larger c_div) splits. Write negative
values with '=' (--dpconv-alpha=-2). Gates start in the order that encodes n_div = 4 with |g| =
--gate-init (official 1e-8: the first steps decide every sign); --gate-lr-scale multiplies their lr.

options:
${formatOptions(options)}`;

export const trainClsCommand: Command = {
  name: 'train-cls',
  summary: 'train a PartialNet classifier (optionally with DPConv split search) on image folders',
  usage,
  async run(argv) {
    const { values } = parseOptions(argv, options);
    const variant = values.variant as PartialNetVariant;
    const { epochs, batch, lr, size, seed, smoothing } = values;
    const cropScale = values['crop-scale'];
    if (!(cropScale[0]! <= cropScale[1]!)) throw new UsageError(`--crop-scale: expected MIN <= MAX, got '${cropScale.join(',')}'`);
    const aug: ClassificationTrainOptions = {
      size,
      batchSize: batch,
      seed,
      scale: [cropScale[0]!, cropScale[1]!],
      flipProb: 0.5,
      mix: { mixup: values.mixup, cutmix: values.cutmix, switchProb: 0.5 },
    };
    const dpconv: DPConvLossOptions | undefined = values.dpconv
      ? {
          b: values['dpconv-b'],
          alpha: values['dpconv-alpha'],
          theta: values['dpconv-theta'],
          gateAlpha: values['gate-alpha'],
        }
      : undefined;

    const report = await setupBackend(values.backend);
    seedEverything(seed);
    const cache = values.cache === 'off' ? false : values.cache === 'on' ? true : 'auto';
    const train = await ClassificationSplit.open(join(values.data, 'train'), cache);
    const val = await ClassificationSplit.open(join(values.data, 'val'), cache);
    if (train.classNames.join('\n') !== val.classNames.join('\n')) {
      throw new Error(`train-cls: ${values.data}/train and /val have different class folders (${train.classNames.length} vs ${val.classNames.length})`);
    }

    // On --resume the run's own config wins, so a resumed run is the same network.
    let config: PartialNetConfig | undefined;
    if (values.resume) {
      const dir = await findLatestCheckpoint(values.out);
      if (dir) config = ((await loadCheckpoint(dir)).state.extra as Partial<ClsRunInfo>).config;
    }
    const overrides: Partial<PartialNetConfig> = { numClasses: train.classNames.length, autoDiv: values.dpconv, preEpoch: values['pre-epoch'] };
    if (values['gate-init'] !== undefined) overrides.gateInitScale = values['gate-init'];
    if (values['embed-dim'] !== undefined) overrides.embedDim = values['embed-dim'];
    if (values.depths !== undefined) overrides.depths = values.depths;
    const model = config ? new PartialNet(config) : PartialNet.create(variant, overrides);
    model.train();
    const info: ClsRunInfo = { task: 'classification', config: model.config, classNames: [...train.classNames], size, ...(dpconv ? { dpconv } : {}) };

    const decay: tf.Variable[] = [];
    const noDecay: tf.Variable[] = [];
    const gates: tf.Variable[] = [];
    for (const [name, v] of model.namedParameters()) (name.endsWith('spatial_mixing.gate') ? gates : v.rank <= 1 ? noDecay : decay).push(v);
    const gateLrScale = values['gate-lr-scale'];
    const optimizer = new AdamW(
      [
        { params: decay },
        { params: noDecay, weightDecay: 0 },
        ...(gates.length > 0 ? [{ params: gates, weightDecay: 0, lrScale: gateLrScale }] : []),
      ],
      { weightDecay: values['weight-decay'] },
    );
    const data = trainData(train, aug, smoothing);
    const maxIters = data.batchesPerEpoch * epochs;
    const warmupIters = Math.min(Math.round(values['warmup-epochs'] * data.batchesPerEpoch), maxIters - 1);
    const evalEvery = values['eval-every'];
    const trainer = new Trainer<ClsBatch>({
      model,
      optimizer,
      data,
      epochs,
      outDir: values.out,
      schedule: { lr, policy: { type: 'cosine', maxIters, minLr: values['min-lr'] }, ...(warmupIters > 0 ? { warmup: { iters: warmupIters, ratio: 1e-3 } } : {}) },
      checkpointEvery: values['checkpoint-every'],
      evalEvery,
      evaluate: async () => {
        await syncDPConv(model);
        const r = await evaluateClassifier(model, val, size, batch);
        const out: Record<string, number> = { top1: r.top1, top5: r.top5, valLoss: r.loss };
        if (dpconv) learnedSplits(model).forEach((s) => (out[`cdiv.${s.layer.replace('.spatial_mixing', '')}`] = s.cDiv));
        return out;
      },
      // The DPConv split is host control flow: read the gates the last step changed.
      ...(dpconv ? { beforeStep: () => syncDPConv(model) } : {}),
      lossFn: (b, ctx) => {
        if (dpconv) setDPConvEpoch(model, ctx.epoch);
        const logits = model.forward(b.x);
        const ce = b.targets ? softCrossEntropy(logits, b.targets) : crossEntropy(logits, b.labels!, smoothing);
        return dpconv ? { ce, ...dpconvLossTerms(ce, model, dpconv) } : { ce };
      },
      extra: info as unknown as Record<string, unknown>,
      progress: values['no-progress'] ? false : true,
    });
    const resumedFrom = values.resume ? await trainer.resume() : undefined;
    console.log(
      `train-cls: ${variant}${values.dpconv ? ' + DPConv' : ''} (${(model.numParameters() / 1e6).toFixed(2)} M params), ${train.length} train / ${val.length} val images, ` +
        `${train.classNames.length} classes, ${size}px, batch ${batch}, ${epochs} epochs (${maxIters} iters), backend ${report.name}${resumedFrom ? `, resumed from ${resumedFrom}` : ''}`,
    );
    const result = await trainer.run();
    await syncDPConv(model);
    const final: Record<string, number> = result.lastEval ?? { ...(await evaluateClassifier(model, val, size, batch)) };
    console.log(`done: ${result.iters} iters in ${result.seconds.toFixed(1)} s; val top-1 ${final.top1!.toFixed(2)}%, top-5 ${final.top5!.toFixed(2)}%; checkpoint ${result.checkpoint}`);
    if (dpconv) {
      const table = formatSplitTable(model, { inputSize: size });
      console.log(`\nlearned splits:\n${table}`);
      await writeFile(join(values.out, 'splits.txt'), `${table}\n`);
      await writeFile(join(values.out, 'splits.json'), `${JSON.stringify(learnedSplits(model), null, 2)}\n`);
    }
    optimizer.dispose();
    model.dispose();
    return 0;
  },
};

/** Reads the run info a train-cls checkpoint carries; `path` is a run folder or a checkpoint folder. */
export async function openClsCheckpoint(path: string): Promise<{ dir: string; info: ClsRunInfo; model: PartialNet }> {
  const dir = (await findLatestCheckpoint(path)) ?? path;
  let ckpt;
  try {
    ckpt = await loadCheckpoint(dir);
  } catch (err) {
    throw new Error(`${path}: not a train-cls run or checkpoint folder (${(err as Error).message})`);
  }
  const info = ckpt.state.extra as Partial<ClsRunInfo>;
  if (info.task !== 'classification' || !info.config) throw new Error(`${dir}: this checkpoint was not written by train-cls (no classification config in state.json)`);
  const model = new PartialNet(info.config);
  model.loadStateDict(ckpt.model);
  return { dir, info: info as ClsRunInfo, model: model.eval() };
}

