import { collate, type Batch } from './collate.js';
import { ImageLoadError } from './decode.js';
import { WorkerPool } from './pool.js';
import { deriveSeed } from '@partialnet/core/random';
import { loadSample } from './sample.js';
import { aspectRatioGroups, epochBatches, type SamplerOptions } from './sampler.js';
import type { Sample, TransformSpec } from './transforms.js';
import type { SampleRecord } from './types.js';

/** What the loader needs from a dataset: a length and plain records. */
export interface Dataset {
  readonly length: number;
  record(index: number): SampleRecord;
}

export interface DataLoaderOptions extends Omit<SamplerOptions, 'groups'> {
  pipeline: readonly TransformSpec[];
  /** Worker threads that decode and transform; 0 = in this thread (sharp still decodes off-thread). */
  workers?: number;
  /** Batches loaded ahead of the one being consumed (the bounded queue). Default 2. */
  prefetch?: number;
  /** Batch only images of the same aspect-ratio group. Default false. */
  groupByAspectRatio?: boolean;
  /** Turn image load errors into counted warnings and drop the image. Default false. */
  skipBadImages?: boolean;
  onWarning?: (message: string) => void;
  /**
   * Reuse batch buffers (default true): a batch's `images` stay valid until the batch after the
   * next one is requested. Set false to get a fresh array per batch.
   */
  reuseBuffers?: boolean;
}

export interface LoaderStats {
  badImages: number;
  warnings: string[];
  batches: number;
  /** Time the consumer waited for a batch that was not ready (ms, summed). */
  waitMs: number;
}

/**
 * Batches of a dataset through a transform pipeline, with seeded shuffling, aspect-ratio grouping,
 * rank/worldSize sharding and a bounded prefetch window, in this thread or in worker threads.
 *
 * ```ts
 * const loader = new DataLoader(dataset, { batchSize: 2, pipeline: trainPipeline(), shuffle: true, seed: 1, workers: 2 });
 * for (let epoch = 0; epoch < 12; epoch++) for await (const batch of loader.epoch(epoch)) { ... }
 * await loader.close();
 * ```
 */
export class DataLoader {
  readonly stats: LoaderStats = { badImages: 0, warnings: [], batches: 0, waitMs: 0 };
  private pool: WorkerPool | undefined;
  private readonly groups: Uint8Array | undefined;
  private readonly ring: (Float32Array | undefined)[] = [undefined, undefined];
  private ringPos = 0;
  private closed = false;

  constructor(
    readonly dataset: Dataset,
    readonly options: DataLoaderOptions,
  ) {
    const workers = options.workers ?? 0;
    if (!(workers >= 0 && Number.isInteger(workers))) throw new Error(`workers must be a non-negative integer, got ${workers}`);
    if (options.groupByAspectRatio) {
      const recs: SampleRecord[] = [];
      for (let i = 0; i < dataset.length; i++) recs.push(dataset.record(i));
      this.groups = aspectRatioGroups(recs);
    }
  }

  private samplerOptions(): SamplerOptions {
    const { pipeline: _p, workers: _w, prefetch: _f, groupByAspectRatio: _g, skipBadImages: _s, onWarning: _o, reuseBuffers: _r, ...rest } = this.options;
    return this.groups ? { ...rest, groups: this.groups } : rest;
  }

  /** The batches (dataset indices) this rank sees in an epoch. */
  batches(epoch = 0): number[][] {
    return epochBatches(this.dataset.length, this.samplerOptions(), epoch);
  }

  /** Number of batches per epoch for this rank. */
  get numBatches(): number {
    return this.batches(0).length;
  }

  private loadOne(index: number, epoch: number): Promise<Sample | null> {
    const record = this.dataset.record(index);
    const seed = deriveSeed(this.options.seed ?? 0, epoch, index);
    const workers = this.options.workers ?? 0;
    if (workers > 0 && !this.pool) this.pool = new WorkerPool(workers, this.options.pipeline);
    const p = this.pool ? this.pool.load(record, seed) : loadSample(record, this.options.pipeline, seed);
    return p.catch((err: unknown) => {
      if (this.options.skipBadImages && err instanceof ImageLoadError) {
        this.stats.badImages++;
        const msg = `skipped bad image: ${err.message}`;
        if (this.stats.warnings.length < 1000) this.stats.warnings.push(msg);
        (this.options.onWarning ?? ((m: string) => console.warn(m)))(msg);
        return null;
      }
      throw err;
    });
  }

  private outBuffer(): Float32Array | undefined {
    if (this.options.reuseBuffers === false) return undefined;
    return this.ring[this.ringPos];
  }

  /** Yields the batches of one epoch. */
  async *epoch(epoch = 0): AsyncGenerator<Batch, void, undefined> {
    if (this.closed) throw new Error('DataLoader is closed');
    const plan = this.batches(epoch);
    const prefetch = Math.max(1, this.options.prefetch ?? 2);
    const window: { p: Promise<(Sample | null)[]>; done: boolean }[] = [];
    let next = 0;
    const fill = () => {
      while (window.length < prefetch && next < plan.length) {
        const entry = { p: Promise.all(plan[next++]!.map((i) => this.loadOne(i, epoch))), done: false };
        // Observed when awaited; this also avoids unhandled rejections if the epoch is abandoned.
        entry.p.then(() => (entry.done = true), () => (entry.done = true));
        window.push(entry);
      }
    };
    try {
      fill();
      while (window.length > 0) {
        const head = window.shift()!;
        const t0 = performance.now();
        const wasReady = head.done;
        const loaded = await head.p;
        if (!wasReady) this.stats.waitMs += performance.now() - t0;
        fill();
        const samples = loaded.filter((s): s is Sample => s !== null);
        if (samples.length === 0) continue;
        const batch = collate(samples, { out: this.outBuffer() });
        if (this.options.reuseBuffers !== false) {
          const buf = batch.images.buffer as ArrayBuffer;
          this.ring[this.ringPos] = new Float32Array(buf);
          this.ringPos = (this.ringPos + 1) % this.ring.length;
        }
        if (this.pool) for (const s of samples) this.pool.recycle(s);
        this.stats.batches++;
        yield batch;
      }
    } finally {
      // Abandoned early: let in-flight loads finish and hand their buffers back for reuse.
      const rest = await Promise.allSettled(window.map((w) => w.p));
      const pool = this.pool;
      if (pool) for (const r of rest) if (r.status === 'fulfilled') for (const s of r.value) if (s) pool.recycle(s);
    }
  }

  /** Stops the worker threads. The loader cannot be used afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await pool.close();
  }
}
