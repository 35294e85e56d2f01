import { seedEverything, tf } from '@partialnet/core';
import { formatSegTable } from '@partialnet/coco';
import { openSemanticSplit, type SemanticSplit } from '@partialnet/data';
import { createSegmenter, type SegBatch, type SemanticFPN } from '@partialnet/segmentation';
import { loadBackboneWeights, setTrainMode, type AnyDetector } from '../build.js';
import { runTraining, type RunOptions, type RunResult } from '../runner.js';
import type { TaskAdapter, TaskDefinition } from '../task.js';
import type { SegRunInfo } from './checkpoint.js';
import { segTrainData, segTrainLoader } from './data.js';
import { evaluateSegmentation, flatSegMetrics, type SegEvalResult } from './evaluate.js';
import { resolveSegRunConfig, type ResolvedSegRunConfig, type SegRunConfig } from './run-config.js';

/** Run-time settings a resumed run may change without changing what it computes. */
export const SEG_RUNTIME_FIELDS = ['data', 'workers', 'checkpointEvery', 'evalEvery', 'logEvery', 'evalBatchSize', 'test'] as const;

export type TrainSegmenterOptions = RunOptions;

export interface TrainSegmenterResult extends Omit<RunResult<ResolvedSegRunConfig>, 'eval'> {
  /** The last evaluation (during or after training), when there is a val split. */
  eval?: SegEvalResult;
}

/** The model of a run, with ImageNet backbone weights when the config names them, in training mode. */
export async function buildSegmenter(config: ResolvedSegRunConfig): Promise<SemanticFPN> {
  const model = createSegmenter(config.model);
  // The detection helpers read only `backbone` (and the config for messages): any model with a PartialNet backbone fits.
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

interface SegAdapter extends TaskAdapter<SegBatch, ResolvedSegRunConfig> {
  lastEval?: SegEvalResult;
}

/**
 * Semantic segmentation as a task of the runner: a shapes / ADE20K / img_dir+ann_dir folder through
 * mmseg's ADE20K pipeline, Semantic FPN (with ImageNet backbone weights if given), AdamW with a
 * poly schedule over the iterations, mIoU (mmseg's IoUMetric) on the val split.
 */
export const segmentationTask: TaskDefinition<SegRunConfig, ResolvedSegRunConfig, SegBatch> = {
  task: 'segmentation',
  runtimeFields: SEG_RUNTIME_FIELDS,
  async setup(requested, ctx): Promise<SegAdapter> {
    if (!requested.data) throw new Error("train-seg: no data folder given (--data or the config's 'data' field)");
    const zero = requested.reduceZeroLabel !== undefined ? { reduceZeroLabel: requested.reduceZeroLabel } : {};
    const train = await openSemanticSplit(requested.data, requested.trainSplit ?? 'train', zero);
    const saved = ctx.resumed as SegRunInfo | undefined;
    if (saved && JSON.stringify(saved.classNames) !== JSON.stringify(train.classNames)) {
      throw new Error(`train-seg --resume: ${requested.data} has classes [${train.classNames.join(', ')}], the run in ${ctx.outDir} was trained on [${saved.classNames.join(', ')}]`);
    }
    const config = resolveSegRunConfig(requested, train.classNames.length, train.dataset.length);
    let val: SemanticSplit | undefined;
    try {
      val = await openSemanticSplit(config.data!, config.valSplit, zero);
    } catch (err) {
      if (config.evalEvery > 0) throw err;
      ctx.print(`no evaluation: ${(err as Error).message}`);
    }
    if (val && val.classNames.join('\n') !== train.classNames.join('\n')) throw new Error(`train and val splits of ${config.data} have different classes`);

    seedEverything(config.seed);
    const model = await buildSegmenter(config);
    const loader = segTrainLoader(train.dataset, config);
    const data = segTrainData(loader);
    const itersPerEpoch = Math.floor(data.batchesPerEpoch / config.accumulate);
    if (itersPerEpoch * config.epochs !== config.maxIters) {
      await loader.close();
      model.dispose();
      throw new Error(`train-seg: ${data.batchesPerEpoch} batches per epoch, but the config was resolved for ${config.maxIters / config.epochs} steps per epoch`);
    }
    const info: SegRunInfo = { task: 'segmentation', config, classNames: train.classNames, reduceZeroLabel: train.reduceZeroLabel };
    const adapter: SegAdapter = {
      config,
      info: info as unknown as SegAdapter['info'],
      model,
      data,
      lossFn: (batch) => model.forward(batch),
      schedule: (ipe) => ({
        lr: config.lr,
        policy: { type: 'poly', maxIters: ipe * config.epochs, power: config.power, minLr: config.lr * config.minLrRatio },
        ...(config.warmupIters > 0 ? { warmup: { iters: config.warmupIters, ratio: config.warmupRatio } } : {}),
      }),
      ...(val
        ? {
            async evaluate() {
              model.eval();
              try {
                const r = await evaluateSegmentation({
                  predict: (x, metas) => model.predict(x, metas, { test: config.test }),
                  dataset: val!.dataset,
                  classNames: train.classNames,
                  scale: config.scale,
                  ignoreIndex: config.model.head.ignoreIndex,
                  batchSize: config.evalBatchSize,
                  workers: config.workers,
                  progress: ctx.progress,
                });
                adapter.lastEval = r;
                return { metrics: flatSegMetrics(r.metrics), report: formatSegTable(r.metrics) };
              } finally {
                setTrainMode(model as unknown as AnyDetector, config.bnMode);
              }
            },
          }
        : {}),
      describe: () =>
        `train-seg: ${config.preset ?? 'semantic-fpn'} (${(model.numParameters() / 1e6).toFixed(2)} M params), ${train.layout} data, ${train.dataset.length} train / ${val?.dataset.length ?? 0} val images, ` +
        `${train.classNames.length} classes${train.reduceZeroLabel ? ' (reduce_zero_label)' : ''}, crop ${config.cropSize.join('x')}, batch ${config.batchSize}${config.accumulate > 1 ? ` x ${config.accumulate}` : ''}, ` +
        `${config.maxIters} iters (${config.epochs} epochs; ${config.scaling}), AdamW lr ${config.lr} wd ${config.weightDecay} poly ${config.power}, backend ${tf.getBackend()}`,
      async close() {
        await loader.close();
        model.dispose();
      },
    };
    return adapter;
  },
};

/**
 * Trains Semantic FPN as a run config says (see `segmentationTask`) on the shared runner:
 * checkpoints with the resolved config (exact resume), log.jsonl and TensorBoard events, mIoU every
 * `evalEvery` epochs and at the end, `curve.png`.
 */
export async function trainSegmenter(given: SegRunConfig, o: TrainSegmenterOptions): Promise<TrainSegmenterResult> {
  let adapter: SegAdapter | undefined;
  const task: typeof segmentationTask = {
    ...segmentationTask,
    setup: async (c, ctx) => (adapter = (await segmentationTask.setup(c, ctx)) as SegAdapter),
  };
  const r = await runTraining(task, given, o);
  const { eval: _flat, ...rest } = r;
  return { ...rest, ...(adapter?.lastEval ? { eval: adapter.lastEval } : {}) };
}
