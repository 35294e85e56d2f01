import { appendFileSync, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AdamW, SGD, Trainer, deriveSeed, findLatestCheckpoint, type Optimizer, type ParamGroup, type TrainResult, type TrainingState, type tf } from '@partialnet/core';
import { writeTrainingCurve } from './curve.js';
import { prepareRunDir } from './run-dir.js';
import { parseSavedRun } from './run-info.js';
import type { EvalOutcome, RunInfo, RunOverrideRecord, RunSettings, TaskDefinition } from './task.js';
import { TensorBoardWriter, scalarsOfLogRecord } from './tensorboard.js';

/**
 * Fields a resumed run may change, recorded as overrides (log.jsonl and state.json): the advice of
 * the NaN guard (lower the lr, clip gradients) must be something a user can follow.
 */
export const OVERRIDE_FIELDS = ['lr', 'clipGradNorm'] as const;

export interface RunOptions {
  /** Run folder: checkpoints/, log.jsonl, events.out.tfevents.*, results, curve.png. */
  outDir: string;
  /**
   * Continue the newest checkpoint of outDir with the config saved in it. The task's runtime fields
   * and OVERRIDE_FIELDS of the given config apply; any other field that differs is refused.
   */
  resume?: boolean;
  /** Start a new run in a folder that is not empty, deleting what it holds. */
  overwrite?: boolean;
  /**
   * On resume, start the optimizer's state (moments, momentum) afresh instead of loading it: the way
   * to continue a checkpoint whose optimizer.safetensors is lost. Recorded as an override.
   */
  resetOptimizer?: boolean;
  /** Progress bars on stderr (default true). */
  progress?: boolean;
  /** Evaluate after training when the last epoch was not evaluated (default true). */
  finalEval?: boolean;
  /** Messages for the user (default: none). */
  print?: (message: string) => void;
  /** Every record written to log.jsonl. */
  onLog?: (record: Record<string, unknown>) => void;
}

export interface RunResult<C> {
  config: C;
  info: RunInfo<C>;
  train: TrainResult;
  /** The last evaluation (during or after training), when the task has val data. */
  eval?: EvalOutcome;
  /** The iteration of that evaluation. */
  evalIter?: number;
  curve: string;
  tensorboard: string;
  resumedFrom?: string;
}

/** AdamW or SGD over parameter groups, as a run's settings say. */
export function optimizerFor(groups: ParamGroup[] | tf.Variable[], s: Pick<RunSettings, 'optimizer' | 'lr' | 'weightDecay' | 'momentum'>): Optimizer {
  return s.optimizer === 'adamw' ? new AdamW(groups, { lr: s.lr, weightDecay: s.weightDecay }) : new SGD(groups, { lr: s.lr, momentum: s.momentum, weightDecay: s.weightDecay });
}

/** The training state and run info of a checkpoint folder, checked to be of `task`. */
export async function readSavedRun<C>(dir: string, task: string): Promise<{ state: TrainingState; info: RunInfo<C> }> {
  const where = join(dir, 'state.json');
  let state: unknown;
  try {
    state = JSON.parse(await readFile(where, 'utf8'));
  } catch (err) {
    throw new Error(`${where}: cannot read the training state (${(err as Error).message})`);
  }
  return parseSavedRun<C>(state, where, task);
}

/** Whether every value `given` sets (deeply) equals the one in `saved`. */
function agrees(given: unknown, saved: unknown): boolean {
  if (typeof given === 'object' && given !== null && !Array.isArray(given)) {
    if (typeof saved !== 'object' || saved === null || Array.isArray(saved)) return false;
    return Object.entries(given).every(([k, v]) => v === undefined || agrees(v, (saved as Record<string, unknown>)[k]));
  }
  return JSON.stringify(given) === JSON.stringify(saved);
}

/**
 * The config a resumed run continues with: the saved one, with the runtime fields and overrides of
 * `given`. Any other given field that disagrees with the run is an error (a resumed run is the
 * same run, exactly).
 */
export function resumedConfig<G extends object>(
  saved: G,
  given: G,
  runtimeFields: readonly string[],
  iter: number,
  where: string,
): { config: G; overrides: RunOverrideRecord[] } {
  const config = { ...saved } as Record<string, unknown>;
  const overrides: RunOverrideRecord[] = [];
  const conflicts: string[] = [];
  for (const [k, v] of Object.entries(given)) {
    if (v === undefined) continue;
    if (runtimeFields.includes(k)) config[k] = v;
    else if ((OVERRIDE_FIELDS as readonly string[]).includes(k)) {
      if (JSON.stringify(v) !== JSON.stringify(config[k])) overrides.push({ iter, field: k, from: config[k], to: v });
      config[k] = v;
    } else if (!agrees(v, config[k])) conflicts.push(`${k}: given ${JSON.stringify(v)}, the run has ${JSON.stringify(config[k])}`);
  }
  if (conflicts.length > 0) {
    throw new Error(
      `resume: ${where} continues with its saved config; these settings differ from it:\n  ${conflicts.join('\n  ')}\n` +
        `Leave them out to continue the run, or start a new run (another --out, or --overwrite). ` +
        `A resumed run may change ${[...runtimeFields, ...OVERRIDE_FIELDS].join(', ')}.`,
    );
  }
  return { config: config as G, overrides };
}

/**
 * Trains one run of any task on core's Trainer: the run folder rule (never into a folder holding
 * something else), exact resume with checked configs, the optimizer from the adapter's parameter
 * groups, per-step model reseeding, log.jsonl + TensorBoard events, checkpoints before evaluation,
 * a final evaluation and `curve.png`.
 */
export async function runTraining<G extends object, C extends RunSettings & G, B>(task: TaskDefinition<G, C, B>, given: G, o: RunOptions): Promise<RunResult<C>> {
  const print = o.print ?? (() => {});
  await prepareRunDir(o.outDir, { resume: o.resume ?? false, overwrite: o.overwrite ?? false });
  let requested = given;
  let resumed: RunInfo<C> | undefined;
  let newOverrides: RunOverrideRecord[] = [];
  if (o.resume) {
    const dir = await findLatestCheckpoint(o.outDir, { warn: print });
    if (dir) {
      const saved = await readSavedRun<C>(dir, task.task);
      resumed = saved.info;
      const r = resumedConfig(saved.info.config as unknown as G, given, task.runtimeFields, saved.state.iter, o.outDir);
      requested = r.config;
      newOverrides = r.overrides;
      if (o.resetOptimizer) newOverrides.push({ iter: saved.state.iter, field: 'optimizerState', from: 'saved', to: 'reset' });
    }
  }
  const adapter = await task.setup(requested, { outDir: o.outDir, ...(resumed ? { resumed } : {}), progress: o.progress !== false, print });
  let optimizer: Optimizer | undefined;
  let tb: TensorBoardWriter | undefined;
  try {
    const config = adapter.config;
    const overrides = [...(resumed?.overrides ?? []), ...newOverrides];
    const info: RunInfo<C> = { ...adapter.info, ...(overrides.length > 0 ? { overrides } : {}) };
    optimizer = optimizerFor(adapter.paramGroups?.() ?? adapter.model.parameters(), config);
    const logPath = join(o.outDir, 'log.jsonl');
    const onLog = (record: Record<string, unknown>) => {
      if (typeof record.iter === 'number') tb?.add(record.iter, scalarsOfLogRecord(record));
      o.onLog?.(record);
    };
    const appendLog = (record: Record<string, unknown>) => {
      const line = { time: new Date().toISOString(), ...record };
      appendFileSync(logPath, `${JSON.stringify(line)}\n`);
      onLog(line);
    };
    let lastEval: EvalOutcome | undefined;
    let lastEvalIter = -1;
    const evaluate = adapter.evaluate?.bind(adapter);
    const model = adapter.model;
    // The data yields micro-batches when the adapter splits batches; accumulate counts them.
    const accumulate = config.accumulate * (adapter.microBatches ?? 1);
    const trainer = new Trainer<B>({
      model,
      optimizer,
      data: adapter.data,
      epochs: config.epochs,
      accumulate,
      schedule: adapter.schedule(Math.floor(adapter.data.batchesPerEpoch / accumulate)),
      outDir: o.outDir,
      checkpointEvery: config.checkpointEvery,
      logEvery: config.logEvery,
      evalEvery: evaluate ? config.evalEvery : 0,
      ...(config.clipGradNorm > 0 ? { clipGradNorm: config.clipGradNorm } : {}),
      ...(evaluate
        ? {
            evaluate: async (ctx) => {
              lastEval = await evaluate(ctx.iter);
              lastEvalIter = ctx.iter;
              return lastEval.metrics;
            },
          }
        : {}),
      ...(adapter.beforeStep ? { beforeStep: adapter.beforeStep.bind(adapter) } : {}),
      lossFn: (batch, ctx) => {
        // Samplers draw from the step's position, so a resumed run samples what an uninterrupted one would.
        model.reseed?.(deriveSeed(config.seed, ctx.iter, ctx.batchInEpoch));
        return adapter.lossFn(batch, ctx);
      },
      extra: info as unknown as Record<string, unknown>,
      progress: o.progress !== false,
      onLog,
    });
    const resumedFrom = o.resume ? await trainer.resume({ resetOptimizer: o.resetOptimizer ?? false, warn: print }) : undefined;
    // Only now, once the run is known to go ahead: a refused resume leaves no new file behind.
    tb = new TensorBoardWriter(o.outDir);
    for (const r of newOverrides) {
      appendLog({ type: 'override', iter: r.iter, field: r.field, from: r.from, to: r.to });
      print(`resume: ${r.field} ${JSON.stringify(r.from)} -> ${JSON.stringify(r.to)} from iteration ${r.iter} (recorded in log.jsonl and state.json)`);
    }
    print(`${adapter.describe()}${resumedFrom ? `, resumed from ${resumedFrom}` : ''}`);
    const ran = await trainer.run();
    // A resumed run that had already finished trains nothing and writes no checkpoint.
    const result = ran.checkpoint ? ran : { ...ran, checkpoint: resumedFrom ?? '' };
    if (evaluate && o.finalEval !== false && lastEvalIter !== result.iters) {
      lastEval = await evaluate(result.iters);
      lastEvalIter = result.iters;
      appendLog({ type: 'eval', iter: result.iters, epoch: config.epochs - 1, ...lastEval.metrics });
    }
    const curve = join(o.outDir, 'curve.png');
    if (existsSync(logPath)) await writeTrainingCurve(logPath, curve);
    return {
      config,
      info,
      train: result,
      ...(lastEval ? { eval: lastEval, evalIter: lastEvalIter } : {}),
      curve,
      tensorboard: tb.path,
      ...(resumedFrom ? { resumedFrom } : {}),
    };
  } finally {
    tb?.close();
    optimizer?.dispose();
    await adapter.close();
  }
}
