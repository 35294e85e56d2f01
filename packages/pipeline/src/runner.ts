import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadInstances, type CocoGroundTruth } from '@partialnet/coco';
import { Trainer, deriveSeed, findLatestCheckpoint, seedEverything, tf, type TrainResult } from '@partialnet/core';
import { CocoDataset } from '@partialnet/data';
import { MaskRCNN, type DetectionBatch } from '@partialnet/detection';
import { buildDetector, buildOptimizer, buildSchedule, setTrainMode, warmupItersFor, type AnyDetector } from './build.js';
import { readRunInfo, type DetectionRunInfo } from './checkpoint.js';
import { writeTrainingCurve } from './curve.js';
import { detectionTrainData, detectionTrainLoader, resolveSplit, type SplitFiles } from './data.js';
import { evaluateDetections, flatMetrics, type DetectionEvalResult } from './evaluate.js';
import { iouTypesOf, resolveRunConfig, type DetectionRunConfig, type ResolvedRunConfig } from './run-config.js';

/** Run-time settings that a resumed run may change without changing what it computes. */
export const RUNTIME_FIELDS = ['data', 'workers', 'checkpointEvery', 'evalEvery', 'logEvery', 'evalBatchSize'] as const;

export interface TrainDetectorOptions {
  /** Run folder: checkpoints/, log.jsonl, results.*.json, curve.png. */
  outDir: string;
  /**
   * Continue the newest checkpoint of outDir with the config saved in it; only the RUNTIME_FIELDS
   * of `config` apply then.
   */
  resume?: boolean;
  /** Progress bars on stderr (default true). */
  progress?: boolean;
  /** Evaluate after training when the Trainer did not (default true, needs a val split). */
  finalEval?: boolean;
  /** Messages for the user (default: none). */
  print?: (message: string) => void;
  onLog?: (record: Record<string, unknown>) => void;
}

export interface TrainDetectorResult {
  config: ResolvedRunConfig;
  train: TrainResult;
  /** The last evaluation (during or after training), when there is a val split. */
  eval?: DetectionEvalResult;
  curve: string;
  resumedFrom?: string;
}

interface Split {
  files: SplitFiles;
  gt: CocoGroundTruth;
}

async function openSplit(dir: string, split: string): Promise<Split> {
  const files = await resolveSplit(dir, split);
  return { files, gt: await loadInstances(files.annotations) };
}

function categoriesOf(gt: CocoGroundTruth): { ids: number[]; names: string[] } {
  const cats = [...gt.categories].sort((a, b) => a.id - b.id);
  return { ids: cats.map((c) => c.id), names: cats.map((c) => c.name) };
}

/** The config a run continues with: the checkpoint's, with the run-time fields of `given`. */
async function resumedConfig(
  outDir: string,
  given: DetectionRunConfig,
  print: (m: string) => void,
): Promise<{ config: DetectionRunConfig; from?: string; categoryIds?: number[]; classNames?: string[] }> {
  const dir = await findLatestCheckpoint(outDir);
  if (!dir) return { config: given };
  const { info } = await readRunInfo(dir);
  const config: DetectionRunConfig = { ...info.config };
  for (const k of RUNTIME_FIELDS) if (given[k] !== undefined) (config as Record<string, unknown>)[k] = given[k];
  const saved = info.config as unknown as Record<string, unknown>;
  const ignored = Object.entries(given).filter(([k, v]) => v !== undefined && k !== 'model' && !(RUNTIME_FIELDS as readonly string[]).includes(k) && JSON.stringify(v) !== JSON.stringify(saved[k]));
  if (ignored.length > 0) print(`resume: continuing with the run's saved config; ignoring ${ignored.map(([k, v]) => `${k}=${JSON.stringify(v)} (saved ${JSON.stringify(saved[k])})`).join(', ')}`);
  return { config, from: dir, categoryIds: info.categoryIds, classNames: info.classNames };
}

/** Samplers draw from the step's position, so a resumed run samples what an uninterrupted one would. */
function reseedSamplers(model: AnyDetector, seed: number, iter: number, batchInEpoch: number): void {
  if (!(model instanceof MaskRCNN)) return;
  model.rpnHead.sampler.rng.reseed(deriveSeed(seed, iter, batchInEpoch, 1));
  model.roiHead.sampler.rng.reseed(deriveSeed(seed, iter, batchInEpoch, 2));
}

/**
 * Trains a detector as a run config says, on the shared Trainer: data from a COCO-layout or
 * shapes folder, the model (with ImageNet backbone weights if given), AdamW / SGD, warmup + step /
 * cosine, evaluation on the val split every `evalEvery` epochs, checkpoints with the resolved
 * config, and `curve.png` at the end.
 */
export async function trainDetector(given: DetectionRunConfig, o: TrainDetectorOptions): Promise<TrainDetectorResult> {
  const print = o.print ?? (() => {});
  const resumed = o.resume ? await resumedConfig(o.outDir, given, print) : undefined;
  const { config: requested, from } = resumed ?? { config: given };
  if (!requested.data) throw new Error('train: no data folder given (--data or the config\'s \'data\' field)');
  const train = await openSplit(requested.data, requested.trainSplit ?? 'train');
  const cats = categoriesOf(train.gt);
  if (cats.ids.length === 0) throw new Error(`${train.files.annotations}: field 'categories': empty, nothing to train`);
  // Resuming on other data with the same class count would silently swap the classes' meaning.
  if (resumed?.categoryIds && JSON.stringify(resumed.categoryIds) !== JSON.stringify(cats.ids)) {
    throw new Error(
      `train --resume: ${train.files.annotations} has categories [${cats.ids.join(', ')}] (${cats.names.join(', ')}), ` +
        `but the run in ${o.outDir} was trained on [${resumed.categoryIds.join(', ')}] (${(resumed.classNames ?? []).join(', ')})`,
    );
  }
  const config = resolveRunConfig(requested, cats.ids.length);
  const iouTypes = iouTypesOf(config.model);

  let val: Split | undefined;
  const wantVal = config.evalEvery > 0 || o.finalEval !== false;
  if (wantVal) {
    try {
      val = await openSplit(config.data!, config.valSplit);
    } catch (err) {
      if (config.evalEvery > 0) throw err;
      print(`no evaluation: ${(err as Error).message}`);
    }
  }
  if (val) {
    const v = categoriesOf(val.gt);
    if (v.ids.join() !== cats.ids.join() || v.names.join('\n') !== cats.names.join('\n')) {
      throw new Error(`${train.files.annotations} and ${val.files.annotations} have different categories (${cats.names.join(', ')} vs ${v.names.join(', ')})`);
    }
  }
  const trainSet = new CocoDataset(train.gt, train.files.images, { filterEmpty: true, withMasks: iouTypes.includes('segm') });
  if (trainSet.length === 0) throw new Error(`${train.files.annotations}: no image has a usable annotation`);
  const valSet = val ? new CocoDataset(val.gt, val.files.images, { withMasks: false }) : undefined;

  seedEverything(config.seed);
  const model = await buildDetector(config);
  const optimizer = buildOptimizer(model, config);
  const loader = detectionTrainLoader(trainSet, { scale: config.scale, flipProb: config.flipProb, batchSize: config.batchSize, seed: config.seed, workers: config.workers });
  const data = detectionTrainData(loader);
  const itersPerEpoch = Math.floor(data.batchesPerEpoch / config.accumulate);
  const info: DetectionRunInfo = { task: 'detection', config, classNames: cats.names, categoryIds: cats.ids };

  let lastEval: DetectionEvalResult | undefined;
  let lastEvalIter = -1;
  const evaluate = async (iter: number): Promise<DetectionEvalResult> => {
    model.eval();
    try {
      lastEval = await evaluateDetections({
        predict: (x, metas) => model.predict(x, metas),
        dataset: valSet!,
        gt: val!.gt,
        labelToCategoryId: cats.ids,
        iouTypes,
        outDir: o.outDir,
        scale: config.scale,
        batchSize: config.evalBatchSize,
        workers: config.workers,
        progress: o.progress !== false,
      });
      lastEvalIter = iter;
      return lastEval;
    } finally {
      setTrainMode(model, config.bnMode);
    }
  };

  // Everything from here on owns tensors or worker threads: released whatever happens.
  try {
    const trainer = new Trainer<DetectionBatch>({
      model,
      optimizer,
      data,
      epochs: config.epochs,
      accumulate: config.accumulate,
      schedule: buildSchedule(config, itersPerEpoch),
      outDir: o.outDir,
      checkpointEvery: config.checkpointEvery,
      logEvery: config.logEvery,
      evalEvery: valSet ? config.evalEvery : 0,
      ...(config.clipGradNorm > 0 ? { clipGradNorm: config.clipGradNorm } : {}),
      evaluate: async (ctx) => flatMetrics(await evaluate(ctx.iter)),
      beforeStep: (batch) => model.prepare(batch),
      lossFn: (batch, ctx) => {
        reseedSamplers(model, config.seed, ctx.iter, ctx.batchInEpoch);
        return model.forward(batch);
      },
      extra: info as unknown as Record<string, unknown>,
      progress: o.progress !== false,
      ...(o.onLog ? { onLog: o.onLog } : {}),
    });
    const resumedFrom = o.resume ? await trainer.resume() : undefined;
    const maxIters = itersPerEpoch * config.epochs;
    const warmup = warmupItersFor(config, maxIters);
    print(
      `train: ${config.preset ?? config.model.kind} (${(model.numParameters() / 1e6).toFixed(2)} M params), ${trainSet.length} train / ${valSet?.length ?? 0} val images, ` +
        `${cats.ids.length} classes, scale ${config.scale.join('x')}, batch ${config.batchSize}${config.accumulate > 1 ? ` x ${config.accumulate}` : ''}, ` +
        `${config.epochs} epochs (${maxIters} iters), ${config.optimizer} lr ${config.lr} (${config.schedule}, warmup ${warmup}), BN ${config.bnMode}, backend ${tf.getBackend()}` +
        `${resumedFrom ?? from ? `, resumed from ${resumedFrom ?? from}` : ''}`,
    );
    const ran = await trainer.run();
    // A resumed run that had already finished trains nothing and writes no checkpoint.
    const result = ran.checkpoint ? ran : { ...ran, checkpoint: resumedFrom ?? '' };
    if (valSet && o.finalEval !== false && lastEvalIter !== result.iters) {
      const r = await evaluate(result.iters);
      const record = { time: new Date().toISOString(), type: 'eval', iter: result.iters, epoch: config.epochs - 1, ...flatMetrics(r) };
      appendFileSync(join(o.outDir, 'log.jsonl'), `${JSON.stringify(record)}\n`);
      o.onLog?.(record);
    }
    const curve = join(o.outDir, 'curve.png');
    if (existsSync(join(o.outDir, 'log.jsonl'))) await writeTrainingCurve(join(o.outDir, 'log.jsonl'), curve);
    return { config, train: result, ...(lastEval ? { eval: lastEval } : {}), curve, ...(resumedFrom ? { resumedFrom } : {}) };
  } finally {
    await loader.close();
    optimizer.dispose();
    model.dispose();
  }
}
