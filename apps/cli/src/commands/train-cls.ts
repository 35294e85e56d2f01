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
  tf,
  type TrainData,
} from '@partialnet/core';
import {
  PartialNet,
  dpconvLossTerms,
  formatSplitTable,
  isVariant,
  learnedSplits,
  setDPConvEpoch,
  syncDPConv,
  smoothOneHot,
  softCrossEntropy,
  topKCorrect,
  type DPConvLossOptions,
  type PartialNetConfig,
} from '@partialnet/backbone';
import {
  ClassificationSplit,
  classificationEvalBatches,
  classificationTrainBatches,
  mixTargets,
  type ClassificationSource,
  type ClassificationTrainOptions,
} from '@partialnet/data';
import { backendFlag, numberFlag, numberListFlag, parseCommandArgs } from '../args.js';
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

const usage = `usage: partialnet train-cls --data ROOT --out DIR [--variant t0] [--dpconv] [--epochs N] [--batch N] [--lr LR]
                         [--size PX] [--weight-decay W] [--warmup-epochs N] [--min-lr LR] [--smoothing S]
                         [--crop-scale MIN,MAX] [--mixup A] [--cutmix A] [--embed-dim N] [--depths a,b,c,d]
                         [--dpconv-b B] [--dpconv-alpha=A] [--dpconv-theta T] [--gate-alpha A] [--pre-epoch N]
                         [--gate-init S] [--gate-lr-scale F]
                         [--eval-every N] [--checkpoint-every N] [--resume] [--seed S] [--cache on|off]
                         [--backend auto|wasm|cpu|webgpu|tfjs-node|tfjs-node-gpu] [--no-progress]

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
      variant: { type: 'string', default: 't0' },
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
      resume: { type: 'boolean', default: false },
      seed: { type: 'string' },
      cache: { type: 'string' },
      backend: { type: 'string' },
      'no-progress': { type: 'boolean', default: false },
    });
    if (!values.data) throw new UsageError('--data ROOT is required (ROOT/train/<class>/..., ROOT/val/<class>/...)');
    if (!values.out) throw new UsageError('--out DIR is required');
    const variant = values.variant!.toLowerCase();
    if (!isVariant(variant)) throw new UsageError(`--variant: unknown variant '${values.variant}'`);
    const positiveInt = (name: string, v: number) => {
      if (!(Number.isInteger(v) && v >= 1)) throw new UsageError(`--${name}: expected a positive integer, got ${v}`);
      return v;
    };
    const epochs = positiveInt('epochs', numberFlag('epochs', values.epochs, 30));
    const batch = positiveInt('batch', numberFlag('batch', values.batch, 64));
    const lr = numberFlag('lr', values.lr, 1e-3);
    const size = positiveInt('size', numberFlag('size', values.size, 224));
    if (size < 32) throw new UsageError(`--size: at least 32 (the backbone's minimum input), got ${size}`);
    const seed = numberFlag('seed', values.seed, 0);
    const cropScale = numberListFlag('crop-scale', values['crop-scale'], [0.08, 1]);
    if (cropScale.length !== 2 || !(cropScale[0]! > 0 && cropScale[0]! <= cropScale[1]! && cropScale[1]! <= 1)) throw new UsageError(`--crop-scale: expected MIN,MAX in (0, 1], got '${values['crop-scale']}'`);
    const smoothing = numberFlag('smoothing', values.smoothing, 0.1);
    const aug: ClassificationTrainOptions = {
      size,
      batchSize: batch,
      seed,
      scale: [cropScale[0]!, cropScale[1]!],
      flipProb: 0.5,
      mix: { mixup: numberFlag('mixup', values.mixup, 0), cutmix: numberFlag('cutmix', values.cutmix, 0), switchProb: 0.5 },
    };
    const dpconv: DPConvLossOptions | undefined = values.dpconv
      ? {
          b: numberFlag('dpconv-b', values['dpconv-b'], 2),
          alpha: numberFlag('dpconv-alpha', values['dpconv-alpha'], -1),
          theta: numberFlag('dpconv-theta', values['dpconv-theta'], 0),
          gateAlpha: numberFlag('gate-alpha', values['gate-alpha'], 0.1),
        }
      : undefined;

    const report = await setupBackend(backendFlag(values.backend));
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
    const overrides: Partial<PartialNetConfig> = { numClasses: train.classNames.length, autoDiv: values.dpconv, preEpoch: numberFlag('pre-epoch', values['pre-epoch'], 0) };
    if (values['gate-init'] !== undefined) overrides.gateInitScale = numberFlag('gate-init', values['gate-init'], 1e-8);
    if (values['embed-dim'] !== undefined) overrides.embedDim = numberFlag('embed-dim', values['embed-dim'], 0);
    if (values.depths !== undefined) overrides.depths = numberListFlag('depths', values.depths, []);
    const model = config ? new PartialNet(config) : PartialNet.create(variant, overrides);
    model.train();
    const info: ClsRunInfo = { task: 'classification', config: model.config, classNames: [...train.classNames], size, ...(dpconv ? { dpconv } : {}) };

    const decay: tf.Variable[] = [];
    const noDecay: tf.Variable[] = [];
    const gates: tf.Variable[] = [];
    for (const [name, v] of model.namedParameters()) (name.endsWith('spatial_mixing.gate') ? gates : v.rank <= 1 ? noDecay : decay).push(v);
    const gateLrScale = numberFlag('gate-lr-scale', values['gate-lr-scale'], 1);
    const optimizer = new AdamW(
      [
        { params: decay },
        { params: noDecay, weightDecay: 0 },
        ...(gates.length > 0 ? [{ params: gates, weightDecay: 0, lrScale: gateLrScale }] : []),
      ],
      { weightDecay: numberFlag('weight-decay', values['weight-decay'], 0.05) },
    );
    const data = trainData(train, aug, smoothing);
    const maxIters = data.batchesPerEpoch * epochs;
    const warmupIters = Math.min(Math.round(numberFlag('warmup-epochs', values['warmup-epochs'], 1) * data.batchesPerEpoch), maxIters - 1);
    const evalEvery = numberFlag('eval-every', values['eval-every'], 1);
    const trainer = new Trainer<ClsBatch>({
      model,
      optimizer,
      data,
      epochs,
      outDir: values.out,
      schedule: { lr, policy: { type: 'cosine', maxIters, minLr: numberFlag('min-lr', values['min-lr'], 1e-5) }, ...(warmupIters > 0 ? { warmup: { iters: warmupIters, ratio: 1e-3 } } : {}) },
      checkpointEvery: numberFlag('checkpoint-every', values['checkpoint-every'], 0),
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

