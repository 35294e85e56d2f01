import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { AdamW, Trainer, findLatestCheckpoint, seedEverything, tf, type TrainResult } from '@partialnet/core';
import { openSemanticSplit, type SemanticSplit } from '@partialnet/data';
import { formatSegTable } from '@partialnet/coco';
import { createSegmenter } from '@partialnet/segmentation';
import type { SemanticFPN, SegBatch } from '@partialnet/segmentation';
import { readSegRunInfo, type SegRunInfo } from './checkpoint.js';
import { segTrainData, segTrainLoader } from './data.js';
import { evaluateSegmentation, flatSegMetrics, type SegEvalResult } from './evaluate.js';
import { resolveSegRunConfig, type ResolvedSegRunConfig, type SegRunConfig } from './run-config.js';
import { loadBackboneWeights, setTrainMode, writeTrainingCurve, type AnyDetector } from './shared.js';

/** Run-time settings a resumed run may change without changing what it computes. */
export const SEG_RUNTIME_FIELDS = ['data', 'workers', 'checkpointEvery', 'evalEvery', 'logEvery', 'evalBatchSize', 'test'] as const;

export interface TrainSegmenterOptions {
  outDir: string;
  /** Continue the newest checkpoint of outDir with its saved config (only SEG_RUNTIME_FIELDS may change). */
  resume?: boolean;
  progress?: boolean;
  /** Evaluate on the val split after training (default true when it exists). */
  finalEval?: boolean;
  print?: (message: string) => void;
  onLog?: (record: Record<string, unknown>) => void;
}

export interface TrainSegmenterResult {
  config: ResolvedSegRunConfig;
  train: TrainResult;
  eval?: SegEvalResult;
  curve: string;
  resumedFrom?: string;
}

async function resumedConfig(outDir: string, given: SegRunConfig, print: (m: string) => void): Promise<{ config: SegRunConfig; info?: SegRunInfo }> {
  const dir = await findLatestCheckpoint(outDir);
  if (!dir) return { config: given };
  const { info } = await readSegRunInfo(dir);
  const config: SegRunConfig = { ...info.config };
  for (const k of SEG_RUNTIME_FIELDS) if (given[k] !== undefined) (config as Record<string, unknown>)[k] = given[k];
  const saved = info.config as unknown as Record<string, unknown>;
  const ignored = Object.entries(given).filter(([k, v]) => v !== undefined && k !== 'model' && !(SEG_RUNTIME_FIELDS as readonly string[]).includes(k) && JSON.stringify(v) !== JSON.stringify(saved[k]));
  if (ignored.length > 0) print(`resume: continuing with the run's saved config; ignoring ${ignored.map(([k, v]) => `${k}=${JSON.stringify(v)} (saved ${JSON.stringify(saved[k])})`).join(', ')}`);
  return { config, info };
}

/** The model of a run, with ImageNet backbone weights when the config names them, in training mode. */
export async function buildSegmenter(config: ResolvedSegRunConfig): Promise<SemanticFPN> {
  const model = createSegmenter(config.model);
  // Detection's helpers read only `backbone` (and the config for messages): any model with a PartialNet backbone fits.
  const asDetector = model as unknown as AnyDetector;
  try {
    if (config.backboneWeights) await loadBackboneWeights(asDetector, config.backboneWeights);
  } catch (err) {
    model.dispose();
    throw err;
  }
  setTrainMode(asDetector, config.bnMode);
  return model;
}

/**
 * Trains Semantic FPN as a run config says, on core's Trainer: data from a shapes / ADE20K /
 * img_dir+ann_dir folder through mmseg's ADE20K pipeline, AdamW with a poly schedule over the
 * iterations, mIoU on the val split every `evalEvery` epochs and at the end, checkpoints with the
 * resolved config (exact resume), log.jsonl and curve.png.
 */
export async function trainSegmenter(given: SegRunConfig, o: TrainSegmenterOptions): Promise<TrainSegmenterResult> {
  const print = o.print ?? (() => {});
  const resumed = o.resume ? await resumedConfig(o.outDir, given, print) : undefined;
  const requested = resumed?.config ?? given;
  if (!requested.data) throw new Error("train-seg: no data folder given (--data or the config's 'data' field)");
  const zero = requested.reduceZeroLabel !== undefined ? { reduceZeroLabel: requested.reduceZeroLabel } : {};
  const train = await openSemanticSplit(requested.data, requested.trainSplit ?? 'train', zero);
  if (resumed?.info && JSON.stringify(resumed.info.classNames) !== JSON.stringify(train.classNames)) {
    throw new Error(`train-seg --resume: ${requested.data} has classes [${train.classNames.join(', ')}], the run in ${o.outDir} was trained on [${resumed.info.classNames.join(', ')}]`);
  }
  const config = resolveSegRunConfig(requested, train.classNames.length, train.dataset.length);
  let val: SemanticSplit | undefined;
  try {
    val = await openSemanticSplit(config.data!, config.valSplit, zero);
  } catch (err) {
    if (config.evalEvery > 0) throw err;
    print(`no evaluation: ${(err as Error).message}`);
  }
  if (val && val.classNames.join('\n') !== train.classNames.join('\n')) throw new Error(`train and val splits of ${config.data} have different classes`);

  seedEverything(config.seed);
  const model = await buildSegmenter(config);
  const optimizer = new AdamW(model.parameters(), { lr: config.lr, weightDecay: config.weightDecay });
  const loader = segTrainLoader(train.dataset, config);
  const data = segTrainData(loader);
  const itersPerEpoch = Math.floor(data.batchesPerEpoch / config.accumulate);
  const epochs = Math.max(1, Math.round(config.iters / itersPerEpoch));
  const maxIters = epochs * itersPerEpoch;
  const info: SegRunInfo = { task: 'segmentation', config, classNames: train.classNames, reduceZeroLabel: train.reduceZeroLabel };

  let lastEval: SegEvalResult | undefined;
  let lastEvalIter = -1;
  const evaluate = async (iter: number): Promise<SegEvalResult> => {
    model.eval();
    try {
      lastEval = await evaluateSegmentation({
        predict: (x, metas) => model.predict(x, metas, { test: config.test }),
        dataset: val!.dataset,
        classNames: train.classNames,
        scale: config.scale,
        ignoreIndex: config.model.head.ignoreIndex,
        batchSize: config.evalBatchSize,
        workers: config.workers,
        progress: o.progress !== false,
      });
      lastEvalIter = iter;
      return lastEval;
    } finally {
      setTrainMode(model as unknown as AnyDetector, config.bnMode);
    }
  };

  try {
    const trainer = new Trainer<SegBatch>({
      model,
      optimizer,
      data,
      epochs,
      accumulate: config.accumulate,
      schedule: {
        lr: config.lr,
        policy: { type: 'poly', maxIters, power: config.power, minLr: config.lr * config.minLrRatio },
        ...(config.warmupIters > 0 ? { warmup: { iters: config.warmupIters, ratio: config.warmupRatio } } : {}),
      },
      outDir: o.outDir,
      checkpointEvery: config.checkpointEvery,
      logEvery: config.logEvery,
      evalEvery: val ? config.evalEvery : 0,
      ...(config.clipGradNorm > 0 ? { clipGradNorm: config.clipGradNorm } : {}),
      evaluate: async (ctx) => flatSegMetrics((await evaluate(ctx.iter)).metrics),
      lossFn: (batch) => model.forward(batch),
      extra: info as unknown as Record<string, unknown>,
      progress: o.progress !== false,
      ...(o.onLog ? { onLog: o.onLog } : {}),
    });
    const resumedFrom = o.resume ? await trainer.resume() : undefined;
    print(
      `train-seg: ${config.preset ?? 'semantic-fpn'} (${(model.numParameters() / 1e6).toFixed(2)} M params), ${train.layout} data, ${train.dataset.length} train / ${val?.dataset.length ?? 0} val images, ` +
        `${train.classNames.length} classes${train.reduceZeroLabel ? ' (reduce_zero_label)' : ''}, crop ${config.cropSize.join('x')}, batch ${config.batchSize}${config.accumulate > 1 ? ` x ${config.accumulate}` : ''}, ` +
        `${maxIters} iters (${epochs} epochs; ${config.scaling}), AdamW lr ${config.lr} wd ${config.weightDecay} poly ${config.power}, backend ${tf.getBackend()}` +
        `${resumedFrom ? `, resumed from ${resumedFrom}` : ''}`,
    );
    const ran = await trainer.run();
    const result = ran.checkpoint ? ran : { ...ran, checkpoint: resumedFrom ?? '' };
    if (val && o.finalEval !== false && lastEvalIter !== result.iters) {
      const r = await evaluate(result.iters);
      const record = { time: new Date().toISOString(), type: 'eval', iter: result.iters, epoch: epochs - 1, ...flatSegMetrics(r.metrics) };
      appendFileSync(join(o.outDir, 'log.jsonl'), `${JSON.stringify(record)}\n`);
      o.onLog?.(record);
    }
    if (lastEval) print(formatSegTable(lastEval.metrics));
    const curve = join(o.outDir, 'curve.png');
    if (existsSync(join(o.outDir, 'log.jsonl'))) await writeTrainingCurve(join(o.outDir, 'log.jsonl'), curve);
    return { config, train: result, ...(lastEval ? { eval: lastEval } : {}), curve, ...(resumedFrom ? { resumedFrom } : {}) };
  } finally {
    await loader.close();
    optimizer.dispose();
    model.dispose();
  }
}
