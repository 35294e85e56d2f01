import { appendFileSync, join, mkdirSync } from '#platform';
import type { Module } from '../module/module.js';
import { addN } from '../ops/add-n.js';
import { clipGradNorm, type Optimizer } from '../optim/optimizer.js';
import { lrSchedule, type LrScheduleConfig } from '../optim/schedule.js';
import { getRandomState, setRandomState } from '../random.js';
import { tf } from '../tf.js';
import { wasmHeapBytes } from '../runtime/wasm-heap.js';
import { Progress, type ProgressStream } from '../util/progress.js';
import { findLatestCheckpoint, loadCheckpoint, saveCheckpoint, type TrainingState } from './checkpoint.js';

export interface StepContext {
  iter: number;
  epoch: number;
  batchInEpoch: number;
}

/** A data source the trainer can restart at any batch of any epoch (for exact resume). */
export interface TrainData<B> {
  /** Batches in one epoch. */
  batchesPerEpoch: number;
  /** Batches of `epoch` from position `start`; the same arguments must give the same batches. */
  batches(epoch: number, start: number): AsyncIterable<B> | Iterable<B>;
  /** Frees a batch after its step (tensors it holds). */
  disposeBatch?(batch: B): void;
  /** Images in a batch, for img/s (default 1). */
  batchSize?(batch: B): number;
}

export interface TrainerOptions<B> {
  model: Module;
  optimizer: Optimizer;
  /** Named scalar losses for one batch, computed inside the gradient tape; their sum is minimised. */
  lossFn: (batch: B, ctx: StepContext) => Record<string, tf.Scalar>;
  /**
   * Runs before each forward pass, outside the gradient tape: where work that reads the device
   * (and so must be awaited) belongs, e.g. DPConv's gate sync or Mask R-CNN's proposals.
   */
  beforeStep?: (batch: B, ctx: StepContext) => Promise<void>;
  data: TrainData<B>;
  epochs: number;
  schedule: LrScheduleConfig;
  /** Run folder: checkpoints/, log.jsonl. */
  outDir: string;
  /** Optimizer steps between checkpoints (0: only at the end of each epoch and of the run). */
  checkpointEvery?: number;
  /** Checkpoints kept on disk (older ones are deleted). */
  keepCheckpoints?: number;
  /** Optimizer steps between log records. */
  logEvery?: number;
  /** Epochs between evaluations (0: never). */
  evalEvery?: number;
  evaluate?: (ctx: StepContext) => Promise<Record<string, number>>;
  /** Clip the global gradient norm to this value. */
  clipGradNorm?: number;
  /** Batches whose gradients are summed into one optimizer step. */
  accumulate?: number;
  /** Saved with every checkpoint and given back by `resume` (configs, seeds...). */
  extra?: Record<string, unknown>;
  /** Progress bar on stderr (default) or the given stream; false for none. */
  progress?: boolean | ProgressStream;
  /** Called with every record written to log.jsonl. */
  onLog?: (record: Record<string, unknown>) => void;
}

interface StepGradients {
  terms: Record<string, number>;
  total: number;
  grads: tf.NamedTensorMap;
}

export interface TrainResult {
  iters: number;
  epochs: number;
  seconds: number;
  lastLosses: Record<string, number>;
  lastEval?: Record<string, number>;
  checkpoint: string;
  resumedFrom?: string;
}

/** A loss or gradient became NaN or infinite. The model is left as it was before the bad step. */
export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
  constructor(
    message: string,
    readonly iter: number,
    readonly checkpoint: string,
  ) {
    super(message);
  }
}

/**
 * The training loop every task shares: gradient accumulation, clipping, lr schedule, a NaN guard,
 * atomic checkpoints with exact resume (model, optimizer, schedule position, data position and
 * the random stream), a progress bar and a JSON-lines log of every logged step and evaluation.
 */
export class Trainer<B> {
  readonly opts: Required<Pick<TrainerOptions<B>, 'checkpointEvery' | 'keepCheckpoints' | 'logEvery' | 'evalEvery' | 'accumulate'>> & TrainerOptions<B>;
  readonly logPath: string;
  readonly itersPerEpoch: number;
  readonly maxIters: number;
  #state: TrainingState = { iter: 0, epoch: 0, batchInEpoch: 0, randomState: 0, extra: {} };

  constructor(options: TrainerOptions<B>) {
    this.opts = { checkpointEvery: 0, keepCheckpoints: 3, logEvery: 10, evalEvery: 0, accumulate: 1, ...options };
    const { accumulate, epochs, data } = this.opts;
    if (!Number.isInteger(accumulate) || accumulate < 1) throw new Error(`Trainer: accumulate must be a positive integer, got ${accumulate}`);
    if (!Number.isInteger(epochs) || epochs < 1) throw new Error(`Trainer: epochs must be a positive integer, got ${epochs}`);
    this.itersPerEpoch = Math.floor(data.batchesPerEpoch / accumulate);
    if (this.itersPerEpoch < 1) throw new Error(`Trainer: ${data.batchesPerEpoch} batches per epoch are fewer than accumulate (${accumulate})`);
    this.maxIters = this.itersPerEpoch * epochs;
    mkdirSync(this.opts.outDir, { recursive: true });
    this.logPath = join(this.opts.outDir, 'log.jsonl');
  }

  get state(): Readonly<TrainingState> {
    return this.#state;
  }

  /**
   * Restores the newest checkpoint of `outDir`; returns its folder, or undefined if there is none.
   * A checkpoint without optimizer.safetensors is refused; `resetOptimizer` starts the optimizer's
   * state afresh instead (its file, if any, is not read).
   */
  async resume(options: { resetOptimizer?: boolean; warn?: (message: string) => void } = {}): Promise<string | undefined> {
    const dir = await findLatestCheckpoint(this.opts.outDir, options.warn ? { warn: options.warn } : {});
    if (!dir) return undefined;
    const ckpt = await loadCheckpoint(dir, { optimizer: options.resetOptimizer ? 'skip' : 'require' });
    this.opts.model.loadStateDict(ckpt.model);
    this.opts.optimizer.loadStateDict(ckpt.optimizer);
    this.#state = ckpt.state;
    setRandomState(ckpt.state.randomState);
    return dir;
  }

  async #checkpoint(): Promise<string> {
    const state = { ...this.#state, randomState: getRandomState(), extra: { ...this.#state.extra, ...this.opts.extra } };
    return saveCheckpoint(this.opts.outDir, await this.opts.model.stateDict(), await this.opts.optimizer.stateDict(), state, this.opts.keepCheckpoints);
  }

  #log(record: Record<string, unknown>): void {
    const line = { time: new Date().toISOString(), ...record };
    appendFileSync(this.logPath, `${JSON.stringify(line)}\n`);
    this.opts.onLog?.(line);
  }

  /** Forward + backward of one batch: loss terms (host numbers) and gradients (caller disposes). */
  async #gradients(batch: B, ctx: StepContext): Promise<StepGradients> {
    const params = this.opts.model.parameters();
    let kept: Record<string, tf.Scalar> = {};
    const { value, grads } = tf.variableGrads(() => {
      const terms = this.opts.lossFn(batch, ctx);
      const names = Object.keys(terms);
      if (names.length === 0) throw new Error('Trainer: lossFn returned no loss terms');
      kept = Object.fromEntries(names.map((n) => [n, tf.keep(terms[n]!)]));
      return addN(names.map((n) => terms[n]!));
    }, params);
    // One read for all terms: each read waits for the device.
    const names = Object.keys(kept);
    const stacked = tf.stack([value, ...names.map((n) => kept[n]!)]);
    const values = await stacked.data();
    const total = values[0]!;
    const terms = Object.fromEntries(names.map((n, i) => [n, values[i + 1]!]));
    tf.dispose([stacked, value, ...Object.values(kept)]);
    return { terms, total, grads };
  }

  async run(): Promise<TrainResult> {
    const { data, accumulate, epochs, optimizer, logEvery, checkpointEvery, evalEvery } = this.opts;
    const lrAt = lrSchedule(this.opts.schedule);
    const started = performance.now();
    const resumedFrom = this.#state.iter > 0 || this.#state.epoch > 0 ? `iter ${this.#state.iter}` : undefined;
    const progress =
      this.opts.progress === false
        ? undefined
        : new Progress({ total: this.maxIters - this.#state.iter, label: 'train', unit: 'it', ...(typeof this.opts.progress === 'object' ? { stream: this.opts.progress } : {}) });
    let lastLosses: Record<string, number> = {};
    let lastEval: Record<string, number> | undefined;
    let windowImages = 0;
    let windowStart = performance.now();
    let lastCheckpoint = '';

    while (this.#state.epoch < epochs) {
      const epoch = this.#state.epoch;
      let accumulated: tf.NamedTensorMap | undefined;
      let micro = 0;
      let stepStart: BufferSnapshot | undefined;
      const sums: Record<string, number> = {};
      // A resumed epoch restarts at the first batch of the interrupted optimizer step.
      const stepsDone = Math.floor(this.#state.batchInEpoch / accumulate);
      this.#state.batchInEpoch = stepsDone * accumulate;
      const usable = this.itersPerEpoch * accumulate;
      try {
        for await (const batch of data.batches(epoch, this.#state.batchInEpoch)) {
          if (this.#state.batchInEpoch >= usable) {
            data.disposeBatch?.(batch);
            break;
          }
          const ctx: StepContext = { iter: this.#state.iter, epoch, batchInEpoch: this.#state.batchInEpoch };
          // Buffers (BatchNorm statistics) change in the forward pass, before the loss can be
          // checked: keep the values of the step's start so a NaN step can be undone.
          if (micro === 0) {
            stepStart?.dispose();
            stepStart = new BufferSnapshot(this.opts.model, this.#state.batchInEpoch);
          }
          let result: StepGradients;
          try {
            await this.opts.beforeStep?.(batch, ctx);
            result = await this.#gradients(batch, ctx);
          } finally {
            windowImages += data.batchSize?.(batch) ?? 1;
            data.disposeBatch?.(batch);
          }
          if (!Number.isFinite(result.total)) {
            tf.dispose(result.grads);
            if (accumulated) tf.dispose(accumulated);
            throw await this.#nonFinite(stepStart!, `loss is ${result.total} at iteration ${ctx.iter} (epoch ${epoch}, batch ${ctx.batchInEpoch}); terms ${JSON.stringify(result.terms)}`);
          }
          for (const [k, v] of Object.entries(result.terms)) sums[k] = (sums[k] ?? 0) + v / accumulate;
          accumulated = addGradients(accumulated, result.grads, 1 / accumulate);
          micro++;
          this.#state.batchInEpoch++;
          if (micro < accumulate) continue;

          let grads = accumulated;
          accumulated = undefined;
          micro = 0;
          // Every step, clipping or not: a finite loss can still have a NaN / Inf gradient, and
          // applying it would save a broken model as the last good state.
          const gradNorm = await globalNorm(grads);
          if (!Number.isFinite(gradNorm)) {
            tf.dispose(grads);
            throw await this.#nonFinite(stepStart!, `gradient norm is ${gradNorm} at iteration ${this.#state.iter} (epoch ${epoch})`);
          }
          if (this.opts.clipGradNorm !== undefined) {
            const clipped = await clipGradNorm(grads, this.opts.clipGradNorm, gradNorm);
            if (clipped.grads !== grads) tf.dispose(grads);
            grads = clipped.grads;
          }
          const lr = lrAt(this.#state.iter);
          optimizer.step(grads, lr);
          tf.dispose(grads);
          this.#state.iter++;
          lastLosses = { ...sums, loss: Object.values(sums).reduce((a, b) => a + b, 0) };
          for (const k of Object.keys(sums)) delete sums[k];
          progress?.tick(1, { epoch: `${epoch + 1}/${epochs}`, loss: lastLosses.loss!, lr });

          if (this.#state.iter % logEvery === 0 || this.#state.iter === this.maxIters) {
            const now = performance.now();
            const imgPerSec = (windowImages * 1000) / Math.max(now - windowStart, 1e-9);
            // the wasm heap's size so far: it never shrinks, and a long run at a large scale can
            // creep towards the 4 GiB ceiling through fragmentation while live tensors stay flat
            const heap = wasmHeapBytes();
            const heapMiB = heap === undefined ? {} : { wasmHeapMiB: Math.round(heap / 2 ** 20) };
            this.#log({ type: 'train', iter: this.#state.iter, epoch, lr, ...lastLosses, gradNorm, imgPerSec, numTensors: tf.memory().numTensors, ...heapMiB });
            windowImages = 0;
            windowStart = now;
          }
          // The epoch's last step is saved once, by the end-of-epoch checkpoint just below.
          const endsEpoch = this.#state.batchInEpoch >= usable;
          if (checkpointEvery > 0 && this.#state.iter % checkpointEvery === 0 && !endsEpoch) lastCheckpoint = await this.#checkpoint();
        }
      } finally {
        // Also on errors (a failing data source, a NaN), so nothing is left allocated.
        if (accumulated) tf.dispose(accumulated);
        stepStart?.dispose();
      }
      this.#state.epoch++;
      this.#state.batchInEpoch = 0;
      // Checkpoint first: an evaluation that fails (a corrupt val image) must not cost the epoch.
      lastCheckpoint = await this.#checkpoint();
      if (evalEvery > 0 && this.opts.evaluate && (this.#state.epoch % evalEvery === 0 || this.#state.epoch === epochs)) {
        lastEval = await this.opts.evaluate({ iter: this.#state.iter, epoch, batchInEpoch: 0 });
        this.#log({ type: 'eval', iter: this.#state.iter, epoch, ...lastEval });
      }
    }
    progress?.done();
    return {
      iters: this.#state.iter,
      epochs,
      seconds: (performance.now() - started) / 1000,
      lastLosses,
      ...(lastEval ? { lastEval } : {}),
      checkpoint: lastCheckpoint,
      ...(resumedFrom ? { resumedFrom } : {}),
    };
  }

  /**
   * Rolls the model's buffers and the data position back to the start of the failed step, keeps
   * that state on disk and builds the error that stops the run (parameters were not yet updated).
   */
  async #nonFinite(stepStart: BufferSnapshot, what: string): Promise<NonFiniteLossError> {
    stepStart.restore();
    stepStart.dispose();
    this.#state.batchInEpoch = stepStart.batchInEpoch;
    const checkpoint = await this.#checkpoint();
    this.#log({ type: 'error', iter: this.#state.iter, message: what });
    return new NonFiniteLossError(
      `training stopped: ${what}. The model before this step is saved in ${checkpoint}; lower the learning rate (--lr) or clip gradients (--clip-grad N), then continue with --resume; both flags apply to a resumed run and are recorded in its log.`,
      this.#state.iter,
      checkpoint,
    );
  }
}

/** The global L2 norm of a set of gradients (read back asynchronously: GPU backends forbid sync reads). */
async function globalNorm(grads: tf.NamedTensorMap): Promise<number> {
  const names = Object.keys(grads);
  if (names.length === 0) return 0;
  const t = tf.tidy(() => tf.sqrt(addN(names.map((n) => tf.sum(tf.square(grads[n]!))))));
  const v = (await t.data())[0]!;
  t.dispose();
  return v;
}

/** Copies of a model's buffers, to undo what a failed step's forward pass did to them. */
class BufferSnapshot {
  readonly #saved: [tf.Variable, tf.Tensor][];

  constructor(
    model: Module,
    readonly batchInEpoch: number,
  ) {
    this.#saved = [...model.namedBuffers()].map(([, v]) => [v, tf.clone(v)]);
  }

  restore(): void {
    for (const [variable, value] of this.#saved) variable.assign(value);
  }

  dispose(): void {
    for (const [, value] of this.#saved) value.dispose();
    this.#saved.length = 0;
  }
}

/**
 * acc + scale * grads, disposing what it replaces; the result owns its tensors. A parameter with
 * a gradient in an earlier micro-batch but none in this one keeps its running sum.
 */
function addGradients(acc: tf.NamedTensorMap | undefined, grads: tf.NamedTensorMap, scale: number): tf.NamedTensorMap {
  if (!acc && scale === 1) return grads;
  const out: tf.NamedTensorMap = { ...acc };
  tf.tidy(() => {
    for (const [name, g] of Object.entries(grads)) {
      const scaled = scale === 1 ? g.clone() : tf.mul(g, scale);
      const previous = acc?.[name];
      out[name] = tf.keep(previous ? tf.add(previous, scaled) : scaled);
    }
  });
  for (const name of Object.keys(grads)) acc?.[name]?.dispose();
  tf.dispose(grads);
  return out;
}
