import { join } from 'node:path';
import { crossEntropy, findLatestCheckpoint, softCrossEntropy, loadCheckpoint, seedEverything, tf, type ParamGroup, type TrainData } from '@partialnet/core';
import {
  PartialNet,
  dpconvLossTerms,
  isVariant,
  learnedSplits,
  setDPConvEpoch,
  syncDPConv,
  smoothOneHot,
  type DPConvLossOptions,
  type PartialNetConfig,
  type PartialNetVariant,
  type LogitsFn,
} from '@partialnet/backbone';
import { ClassificationSplit, classificationEvalBatches, classificationTrainBatches, mixTargets, type ClassificationSource, type ClassificationTrainOptions } from '@partialnet/data';
import { TopKEvaluator } from './evaluator.js';
import { runTraining, type RunOptions, type RunResult } from './runner.js';
import type { RunInfo, TaskAdapter, TaskDefinition } from './task.js';

/**
 * One classification run (`partialnet train-cls`, saved with every checkpoint). Every field is
 * optional; `resolveClassificationConfig` fills the official recipe's defaults.
 */
export interface ClassificationRunConfig {
  /** ROOT with ROOT/<trainSplit>/<class>/* and ROOT/<valSplit>/<class>/*. */
  data?: string;
  trainSplit?: string;
  valSplit?: string;
  variant?: PartialNetVariant;
  /** Overrides of the variant's config (embedDim, depths, gateInitScale, preEpoch...); numClasses comes from the data. */
  model?: Partial<PartialNetConfig>;
  /** DPConv split search (the official auto_div) with these loss settings. */
  dpconv?: DPConvLossOptions;
  epochs?: number;
  batchSize?: number;
  accumulate?: number;
  optimizer?: 'adamw' | 'sgd';
  lr?: number;
  weightDecay?: number;
  momentum?: number;
  /** Input side in pixels (train crops and the eval center crop). */
  size?: number;
  warmupEpochs?: number;
  minLr?: number;
  smoothing?: number;
  /** RandomResizedCrop area range. */
  cropScale?: [number, number];
  mixup?: number;
  cutmix?: number;
  /** lr multiplier of the DPConv gates. */
  gateLrScale?: number;
  clipGradNorm?: number;
  seed?: number;
  checkpointEvery?: number;
  evalEvery?: number;
  logEvery?: number;
  /** Decoded images kept in memory: true, false or 'auto' (when they fit). */
  cache?: boolean | 'auto';
  evalBatchSize?: number;
}

export interface ResolvedClassificationConfig
  extends Required<Omit<ClassificationRunConfig, 'dpconv' | 'model' | 'data'>> {
  data?: string;
  /** The network's full config, numClasses included. */
  model: PartialNetConfig;
  dpconv?: DPConvLossOptions;
}

/** What a classification run saves with each checkpoint. */
export interface ClassificationRunInfo extends RunInfo<ResolvedClassificationConfig> {
  task: 'classification';
  classNames: string[];
}

/** Fields a resumed classification run may change without changing what it computes. */
export const CLASSIFICATION_RUNTIME_FIELDS = ['data', 'checkpointEvery', 'evalEvery', 'logEvery', 'cache', 'evalBatchSize'] as const;

function check(cond: boolean, field: string, expected: string, got: unknown): void {
  if (!cond) throw new Error(`classification config: field '${field}': expected ${expected}, got ${JSON.stringify(got)}`);
}

/** Defaults of the official recipe at small scale; checks every value. */
export function resolveClassificationConfig(c: ClassificationRunConfig, numClasses: number): ResolvedClassificationConfig {
  const variant = c.variant ?? 't0';
  check(isVariant(variant), 'variant', 'one of t0 t1 t2 s m l', variant);
  const posInt = (k: keyof ClassificationRunConfig, v: number) => (check(Number.isInteger(v) && v >= 1, k, 'a positive integer', v), v);
  const nonNegInt = (k: keyof ClassificationRunConfig, v: number) => (check(Number.isInteger(v) && v >= 0, k, 'an integer >= 0', v), v);
  const size = posInt('size', c.size ?? 224);
  check(size >= 32, 'size', "at least 32 (the backbone's minimum input)", size);
  const cropScale = c.cropScale ?? [0.08, 1];
  check(cropScale.length === 2 && cropScale[0] > 0 && cropScale[0] <= cropScale[1] && cropScale[1] <= 1, 'cropScale', '[min, max] in (0, 1]', cropScale);
  const optimizer = c.optimizer ?? 'adamw';
  check(optimizer === 'adamw' || optimizer === 'sgd', 'optimizer', "'adamw' or 'sgd'", optimizer);
  const batchSize = posInt('batchSize', c.batchSize ?? 64);
  const model = PartialNet.create(variant, { ...c.model, numClasses, autoDiv: c.dpconv !== undefined || c.model?.autoDiv === true });
  const config = model.config;
  model.dispose();
  return {
    ...(c.data !== undefined ? { data: c.data } : {}),
    trainSplit: c.trainSplit ?? 'train',
    valSplit: c.valSplit ?? 'val',
    variant,
    model: config,
    ...(c.dpconv ? { dpconv: c.dpconv } : {}),
    epochs: posInt('epochs', c.epochs ?? 30),
    batchSize,
    accumulate: posInt('accumulate', c.accumulate ?? 1),
    optimizer,
    lr: c.lr ?? 1e-3,
    weightDecay: c.weightDecay ?? 0.05,
    momentum: c.momentum ?? 0.9,
    size,
    warmupEpochs: c.warmupEpochs ?? 1,
    minLr: c.minLr ?? 1e-5,
    smoothing: c.smoothing ?? 0.1,
    cropScale: [cropScale[0], cropScale[1]],
    mixup: c.mixup ?? 0,
    cutmix: c.cutmix ?? 0,
    gateLrScale: c.gateLrScale ?? 1,
    clipGradNorm: c.clipGradNorm ?? 0,
    seed: c.seed ?? 0,
    checkpointEvery: nonNegInt('checkpointEvery', c.checkpointEvery ?? 0),
    evalEvery: nonNegInt('evalEvery', c.evalEvery ?? 1),
    logEvery: posInt('logEvery', c.logEvery ?? 10),
    cache: c.cache ?? 'auto',
    evalBatchSize: posInt('evalBatchSize', c.evalBatchSize ?? batchSize),
  };
}

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

/**
 * Top-1 / top-5 (%) and mean cross-entropy on a split: eval transform, model in eval mode, a
 * TopKEvaluator. `logitsOf` computes the logits elsewhere (ONNX Runtime: `onnxLogits`), scored alike.
 */
export async function evaluateClassifier(model: PartialNet, split: ClassificationSource, size: number, batchSize: number, logitsOf?: LogitsFn): Promise<ClsEvalResult> {
  const wasTraining = model.isTraining;
  model.eval();
  const evaluator = new TopKEvaluator(model.config.numClasses, 5);
  try {
    for await (const b of classificationEvalBatches(split, { size, batchSize })) {
      const external = logitsOf ? await logitsOf(b.images, b.shape as [number, number, number, number]) : undefined;
      const [logitsT, lossesT] = tf.tidy(() => {
        const logits = external ? tf.tensor2d(external, [b.labels.length, model.config.numClasses]) : (model.forward(tf.tensor4d(b.images, b.shape)) as tf.Tensor2D);
        const logProbs = tf.logSoftmax(logits);
        const picked = tf.sum(tf.mul(logProbs, tf.oneHot(tf.tensor1d(b.labels, 'int32'), model.config.numClasses)), 1);
        return [logits, tf.neg(picked)] as const;
      });
      try {
        evaluator.process({ labels: b.labels }, { logits: await logitsT.data(), losses: await lossesT.data() });
      } finally {
        tf.dispose([logitsT, lossesT]);
      }
    }
  } finally {
    model.train(wasTraining);
  }
  const m = evaluator.evaluate();
  return { top1: m.top1!, top5: m[`top${evaluator.k}`]!, loss: m.valLoss ?? NaN, images: evaluator.images };
}

/** The classifier adapter keeps the model and val split for the caller's report. */
interface ClassificationAdapter extends TaskAdapter<ClsBatch, ResolvedClassificationConfig> {
  readonly model: PartialNet;
  readonly val: ClassificationSplit;
}

function sameClasses(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/**
 * PartialNet image classification as a task of the runner: ImageNet-style folders, the official
 * recipe (AdamW without decay on 1-D parameters and DPConv gates, cosine + linear warmup, label
 * smoothing, RandomResizedCrop + flip, optional mixup / cutmix, optional DPConv split search),
 * top-1 / top-5 on val.
 */
export const classificationTask: TaskDefinition<ClassificationRunConfig, ResolvedClassificationConfig, ClsBatch> = {
  task: 'classification',
  runtimeFields: CLASSIFICATION_RUNTIME_FIELDS,
  async setup(requested, ctx): Promise<ClassificationAdapter> {
    if (!requested.data) throw new Error("train-cls: no data folder given (--data or the config's 'data' field)");
    const cache = requested.cache ?? 'auto';
    const train = await ClassificationSplit.open(join(requested.data, requested.trainSplit ?? 'train'), cache);
    const val = await ClassificationSplit.open(join(requested.data, requested.valSplit ?? 'val'), cache);
    if (!sameClasses(train.classNames, val.classNames)) {
      throw new Error(`train-cls: ${requested.data}/${requested.trainSplit ?? 'train'} and /${requested.valSplit ?? 'val'} have different class folders (${train.classNames.length} vs ${val.classNames.length})`);
    }
    const saved = ctx.resumed as ClassificationRunInfo | undefined;
    if (saved && !sameClasses(saved.classNames, train.classNames)) {
      throw new Error(
        `train-cls --resume: ${requested.data} has the classes [${train.classNames.slice(0, 8).join(', ')}${train.classNames.length > 8 ? ', ...' : ''}] (${train.classNames.length}), ` +
          `but the run in ${ctx.outDir} was trained on [${saved.classNames.slice(0, 8).join(', ')}${saved.classNames.length > 8 ? ', ...' : ''}] (${saved.classNames.length})`,
      );
    }
    const config = resolveClassificationConfig(requested, train.classNames.length);
    seedEverything(config.seed);
    const model = new PartialNet(config.model);
    model.train();
    const aug: ClassificationTrainOptions = {
      size: config.size,
      batchSize: config.batchSize,
      seed: config.seed,
      scale: config.cropScale,
      flipProb: 0.5,
      mix: { mixup: config.mixup, cutmix: config.cutmix, switchProb: 0.5 },
    };
    let data: TrainData<ClsBatch>;
    try {
      data = trainData(train, aug, config.smoothing);
    } catch (err) {
      model.dispose();
      throw err;
    }
    const info: ClassificationRunInfo = { task: 'classification', config, classNames: [...train.classNames] };
    const dpconv = config.dpconv;
    return {
      config,
      info,
      model,
      val,
      data,
      lossFn: (b, step) => {
        if (dpconv) setDPConvEpoch(model, step.epoch);
        const logits = model.forward(b.x);
        const ce = b.targets ? softCrossEntropy(logits, b.targets) : crossEntropy(logits, b.labels!, config.smoothing);
        return dpconv ? { ce, ...dpconvLossTerms(ce, model, dpconv) } : { ce };
      },
      // The DPConv split is host control flow: read the gates the last optimizer step changed.
      ...(dpconv ? { beforeStep: () => syncDPConv(model) } : {}),
      paramGroups(): ParamGroup[] {
        const decay: tf.Variable[] = [];
        const noDecay: tf.Variable[] = [];
        const gates: tf.Variable[] = [];
        for (const [name, v] of model.namedParameters()) (name.endsWith('spatial_mixing.gate') ? gates : v.rank <= 1 ? noDecay : decay).push(v);
        return [{ params: decay }, { params: noDecay, weightDecay: 0 }, ...(gates.length > 0 ? [{ params: gates, weightDecay: 0, lrScale: config.gateLrScale }] : [])];
      },
      schedule(itersPerEpoch) {
        const maxIters = itersPerEpoch * config.epochs;
        const warmupIters = Math.min(Math.round(config.warmupEpochs * itersPerEpoch), maxIters - 1);
        return { lr: config.lr, policy: { type: 'cosine', maxIters, minLr: config.minLr }, ...(warmupIters > 0 ? { warmup: { iters: warmupIters, ratio: 1e-3 } } : {}) };
      },
      async evaluate() {
        await syncDPConv(model);
        const r = await evaluateClassifier(model, val, config.size, config.evalBatchSize);
        const metrics: Record<string, number> = { top1: r.top1, top5: r.top5, valLoss: r.loss };
        if (dpconv) learnedSplits(model).forEach((s) => (metrics[`cdiv.${s.layer.replace('.spatial_mixing', '')}`] = s.cDiv));
        return { metrics, report: `val top-1 ${r.top1.toFixed(2)}%, top-5 ${r.top5.toFixed(2)}% (${r.images} images)` };
      },
      describe: () => {
        const maxIters = Math.floor(data.batchesPerEpoch / config.accumulate) * config.epochs;
        return (
          `train-cls: ${config.variant}${dpconv ? ' + DPConv' : ''} (${(model.numParameters() / 1e6).toFixed(2)} M params), ${train.length} train / ${val.length} val images, ` +
          `${train.classNames.length} classes, ${config.size}px, batch ${config.batchSize}, ${config.epochs} epochs (${maxIters} iters), ${config.optimizer} lr ${config.lr}, backend ${tf.getBackend()}`
        );
      },
      async close() {
        model.dispose();
      },
    };
  },
};

export interface TrainClassifierResult extends RunResult<ResolvedClassificationConfig> {
  /** The trained model (the caller disposes it): for split tables, export, further evaluation. */
  model: PartialNet;
}

/**
 * Trains a PartialNet classifier as a run config says (see `classificationTask`) on the shared
 * runner. The model is handed back to the caller instead of being disposed.
 */
export async function trainClassifier(config: ClassificationRunConfig, o: RunOptions): Promise<TrainClassifierResult> {
  let model: PartialNet | undefined;
  const task: typeof classificationTask = {
    ...classificationTask,
    async setup(c, ctx) {
      const adapter = (await classificationTask.setup(c, ctx)) as ClassificationAdapter;
      model = adapter.model;
      // The caller owns the model after the run: close() releases nothing else.
      return { ...adapter, close: async () => {} };
    },
  };
  try {
    const r = await runTraining(task, config, o);
    // The caller reads the learned splits on the host.
    await syncDPConv(model!);
    return { ...r, model: model! };
  } catch (err) {
    model?.dispose();
    throw err;
  }
}

/** Reads a classification checkpoint: a run folder (its newest checkpoint) or a checkpoint folder. */
export async function openClassifierCheckpoint(path: string): Promise<{ dir: string; info: ClassificationRunInfo; model: PartialNet }> {
  const dir = (await findLatestCheckpoint(path)) ?? path;
  let ckpt;
  try {
    ckpt = await loadCheckpoint(dir, { optimizer: 'skip' });
  } catch (err) {
    throw new Error(`${path}: not a train-cls run or checkpoint folder (${(err as Error).message})`);
  }
  const info = ckpt.state.extra as Partial<ClassificationRunInfo> & { size?: number };
  if (info.task !== 'classification' || !info.config) throw new Error(`${dir}: this checkpoint was not written by train-cls (no classification config in state.json)`);
  // Runs written before the pipeline package saved the network config itself as `config`.
  const legacy = !(info.config as { model?: unknown }).model;
  const resolved = legacy ? ({ model: info.config as unknown as PartialNetConfig, size: info.size ?? 224 } as ResolvedClassificationConfig) : info.config;
  const model = new PartialNet(resolved.model);
  try {
    model.loadStateDict(ckpt.model);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { dir, info: { ...(info as ClassificationRunInfo), config: resolved }, model: model.eval() };
}
