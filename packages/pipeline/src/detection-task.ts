import { loadInstances, type CocoGroundTruth } from '@partialnet/coco';
import { seedEverything, tf } from '@partialnet/core';
import { CocoDataset } from '@partialnet/data';
import type { DetectionBatch } from '@partialnet/detection';
import { microBatchFor } from '@partialnet/detection/ops';
import { buildDetector, buildSchedule, detectionParamGroups, setTrainMode, warmupItersFor } from './build.js';
import type { DetectionRunInfo } from './checkpoint.js';
import { detectionTrainData, detectionTrainLoader, resolveSplit, type SplitFiles } from './data.js';
import { evaluateDetections, flatMetrics, formatApTable, type DetectionEvalResult } from './evaluate.js';
import { iouTypesOf, resolveRunConfig, type DetectionRunConfig, type ResolvedRunConfig } from './run-config.js';
import { runTraining, type RunOptions, type RunResult } from './runner.js';
import type { TaskAdapter, TaskDefinition } from './task.js';

/** Run-time settings that a resumed run may change without changing what it computes. */
export const RUNTIME_FIELDS = ['data', 'workers', 'checkpointEvery', 'evalEvery', 'logEvery', 'evalBatchSize'] as const;

export type TrainDetectorOptions = RunOptions;

export interface TrainDetectorResult extends Omit<RunResult<ResolvedRunConfig>, 'eval'> {
  /** The last evaluation (during or after training), when there is a val split. */
  eval?: DetectionEvalResult;
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

/** The detection adapter has the full evaluation result beside the flat metrics. */
interface DetectionAdapter extends TaskAdapter<DetectionBatch, ResolvedRunConfig> {
  lastEval?: DetectionEvalResult;
}

/**
 * Detection as a task of the runner: data from a COCO-layout or shapes folder, RetinaNet / Mask
 * R-CNN (with ImageNet backbone weights if given), warmup + step / cosine, COCO AP on the val split.
 */
export const detectionTask: TaskDefinition<DetectionRunConfig, ResolvedRunConfig, DetectionBatch> = {
  task: 'detection',
  runtimeFields: RUNTIME_FIELDS,
  async setup(requested, ctx): Promise<DetectionAdapter> {
    if (!requested.data) throw new Error("train: no data folder given (--data or the config's 'data' field)");
    const train = await openSplit(requested.data, requested.trainSplit ?? 'train');
    const cats = categoriesOf(train.gt);
    if (cats.ids.length === 0) throw new Error(`${train.files.annotations}: field 'categories': empty, nothing to train`);
    // Resuming on other data with the same class count would silently swap the classes' meaning.
    const saved = ctx.resumed as DetectionRunInfo | undefined;
    if (saved && JSON.stringify(saved.categoryIds) !== JSON.stringify(cats.ids)) {
      throw new Error(
        `train --resume: ${train.files.annotations} has categories [${cats.ids.join(', ')}] (${cats.names.join(', ')}), ` +
          `but the run in ${ctx.outDir} was trained on [${saved.categoryIds.join(', ')}] (${saved.classNames.join(', ')})`,
      );
    }
    let config = resolveRunConfig(requested, cats.ids.length);
    // On wasm a batch over the heap's budget trains as micro-batches, unless the config says how. A
    // resumed run's saved config always says (or predates micro-batches: then its batches stay whole).
    const auto = requested.microBatch === undefined && !saved;
    if (auto) config = { ...config, microBatch: microBatchFor(config.batchSize, config.scale, tf.getBackend()) };
    const microBatches = config.batchSize / config.microBatch;
    if (microBatches > 1) {
      const why = auto
        ? `wasm: ${config.batchSize} images at ${config.scale.join('x')} do not fit the 4 GiB heap in one pass`
        : saved
          ? "the run's saved config"
          : `microBatch ${config.microBatch} in the config`;
      ctx.print(
        `micro-batches (${why}): each batch of ${config.batchSize} images trains as ${microBatches} passes of ${config.microBatch} with accumulated gradients, ` +
          `BatchNorm statistics and loss normalisation per pass; saved in the run's config as "microBatch": ${config.microBatch}`,
      );
    }
    const iouTypes = iouTypesOf(config.model);
    let val: Split | undefined;
    try {
      val = await openSplit(config.data!, config.valSplit);
    } catch (err) {
      if (config.evalEvery > 0) throw err;
      ctx.print(`no evaluation: ${(err as Error).message}`);
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
    const loader = detectionTrainLoader(trainSet, { scale: config.scale, flipProb: config.flipProb, batchSize: config.batchSize, seed: config.seed, workers: config.workers });
    const data = detectionTrainData(loader, config.microBatch);
    const info: DetectionRunInfo = { task: 'detection', config, classNames: cats.names, categoryIds: cats.ids };
    const itersPerEpoch = Math.floor(data.batchesPerEpoch / (config.accumulate * microBatches));
    const adapter: DetectionAdapter = {
      config,
      info: info as unknown as DetectionAdapter['info'],
      model,
      data,
      microBatches,
      lossFn: (batch) => model.forward(batch),
      beforeStep: (batch) => model.prepare(batch),
      paramGroups: () => detectionParamGroups(model, config),
      schedule: (ipe) => buildSchedule(config, ipe),
      ...(valSet
        ? {
            async evaluate() {
              model.eval();
              try {
                const r = await evaluateDetections({
                  predict: (x, metas) => model.predict(x, metas),
                  dataset: valSet,
                  gt: val!.gt,
                  labelToCategoryId: cats.ids,
                  iouTypes,
                  outDir: ctx.outDir,
                  split: config.valSplit,
                  scale: config.scale,
                  batchSize: config.evalBatchSize,
                  workers: config.workers,
                  progress: ctx.progress,
                });
                adapter.lastEval = r;
                return { metrics: flatMetrics(r), report: formatApTable(r) };
              } finally {
                setTrainMode(model, config.bnMode);
              }
            },
          }
        : {}),
      describe: () => {
        const maxIters = itersPerEpoch * config.epochs;
        return (
          `train: ${config.preset ?? config.model.kind} (${(model.numParameters() / 1e6).toFixed(2)} M params), ${trainSet.length} train / ${valSet?.length ?? 0} val images, ` +
          `${cats.ids.length} classes, scale ${config.scale.join('x')}, batch ${config.batchSize}${config.accumulate > 1 ? ` x ${config.accumulate}` : ''}${microBatches > 1 ? ` (micro-batches of ${config.microBatch})` : ''}, ` +
          `${config.epochs} epochs (${maxIters} iters), ${config.optimizer} lr ${config.lr} (${config.schedule}, warmup ${warmupItersFor(config, maxIters)}), BN ${config.bnMode}, backend ${tf.getBackend()}`
        );
      },
      async close() {
        await loader.close();
        model.dispose();
      },
    };
    return adapter;
  },
};

/**
 * Trains a detector as a run config says (see `detectionTask`), on the shared runner: checkpoints
 * with the resolved config, log.jsonl and TensorBoard events, evaluation every `evalEvery` epochs
 * and at the end, `curve.png`.
 */
export async function trainDetector(given: DetectionRunConfig, o: TrainDetectorOptions): Promise<TrainDetectorResult> {
  let adapter: DetectionAdapter | undefined;
  const task: typeof detectionTask = {
    ...detectionTask,
    setup: async (c, ctx) => (adapter = (await detectionTask.setup(c, ctx)) as DetectionAdapter),
  };
  const r = await runTraining(task, given, o);
  const { eval: _flat, ...rest } = r;
  return { ...rest, ...(adapter?.lastEval ? { eval: adapter.lastEval } : {}) };
}
