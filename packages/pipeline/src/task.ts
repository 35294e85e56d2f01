import type { LrScheduleConfig, Module, ParamGroup, StepContext, TrainData, tf } from '@partialnet/core';

/** A model the runner trains: a Module, optionally with random streams to restart per step. */
export interface TaskModel extends Module {
  /** Restarts the model's own random streams (samplers); called before every step with a per-step seed. */
  reseed?(seed: number): void;
}

/**
 * What every task's resolved run config has: the runner reads these and nothing else. Tasks keep
 * their own fields beside them (data, model, augmentation...).
 */
export interface RunSettings {
  epochs: number;
  /** Batches whose gradients make one optimizer step. */
  accumulate: number;
  seed: number;
  optimizer: 'adamw' | 'sgd';
  lr: number;
  weightDecay: number;
  /** SGD momentum. */
  momentum: number;
  /** Clip the global gradient norm; 0: off (NaN / Inf gradients stop the run either way). */
  clipGradNorm: number;
  /** Optimizer steps between checkpoints (0: at the end of each epoch only). */
  checkpointEvery: number;
  /** Epochs between evaluations (0: never). */
  evalEvery: number;
  /** Optimizer steps between log records. */
  logEvery: number;
}

/** Saved in every checkpoint's `state.json` (`extra`): enough to rebuild the run. */
export interface RunInfo<C> {
  task: string;
  /** The resolved config (a resumed run continues with it). */
  config: C;
  /** Values changed on `--resume` (`lr`, `clipGradNorm`), with the iteration they apply from. */
  overrides?: RunOverrideRecord[];
  [key: string]: unknown;
}

export interface RunOverrideRecord {
  iter: number;
  field: string;
  from: unknown;
  to: unknown;
}

/** One evaluation: flat numbers for log.jsonl / TensorBoard, and text for the user. */
export interface EvalOutcome {
  metrics: Record<string, number>;
  /** Printed after training (e.g. the AP table). */
  report?: string;
}

/**
 * A task's part of a run, built by `TaskDefinition.setup` from a resolved config. The runner builds
 * the optimizer from `paramGroups()` and the settings, the Trainer, logs and checkpoints; the
 * adapter owns only what is specific to the task.
 */
export interface TaskAdapter<B, C extends RunSettings> {
  readonly config: C;
  /** What `state.json` carries (task, config, class names...). */
  readonly info: RunInfo<C>;
  /** In training mode. */
  readonly model: TaskModel;
  readonly data: TrainData<B>;
  /**
   * Micro-batches `data` yields per batch of the config (default 1): each optimizer step then
   * accumulates the gradients of `accumulate` x this many of them.
   */
  readonly microBatches?: number;
  /** Named loss terms of one batch, under the gradient tape. */
  lossFn(batch: B, ctx: StepContext): Record<string, tf.Scalar>;
  /**
   * Work before a step's forward pass that must read the device (the gradient tape cannot wait):
   * Mask R-CNN's training proposals. Optional.
   */
  beforeStep?(batch: B, ctx: StepContext): Promise<void>;
  /** Parameter groups (weight decay exemptions, lr scales); default: all trainable parameters. */
  paramGroups?(): ParamGroup[];
  /** The lr schedule, given the optimizer steps of one epoch. */
  schedule(itersPerEpoch: number): LrScheduleConfig;
  /**
   * Evaluates the model (left in training mode afterwards) on the task's val data; undefined when
   * the run has none. `iter` names the step (for result files).
   */
  evaluate?(iter: number): Promise<EvalOutcome>;
  /** One line describing the run (model, data sizes, schedule), printed at the start. */
  describe(): string;
  /** Releases loaders, model and everything else the adapter holds. Called once. */
  close(): Promise<void>;
}

export interface SetupContext<C> {
  outDir: string;
  /** The saved info of the checkpoint a resumed run continues (to compare classes etc.). */
  resumed?: RunInfo<C>;
  /** Progress bars in evaluation. */
  progress: boolean;
  print: (message: string) => void;
}

/**
 * A task: how its configs are checked and resolved and how a run's adapter is built. `C` is the
 * resolved config, `G` what users give (every field optional).
 */
export interface TaskDefinition<G extends object, C extends RunSettings & G, B> {
  /** `detection`, `classification`, `segmentation`: saved as `extra.task` and checked on resume. */
  readonly task: string;
  /** Fields a resumed run may change without changing what it computes (data path, workers, intervals). */
  readonly runtimeFields: readonly (keyof G & string)[];
  setup(config: G, ctx: SetupContext<C>): Promise<TaskAdapter<B, C>>;
}
