import { Worker } from 'node:worker_threads';
import { ImageLoadError } from './decode.js';
import type { Sample, TransformSpec } from './transforms.js';
import type { SampleRecord } from './types.js';
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';

interface Pending {
  resolve: (s: Sample) => void;
  reject: (e: Error) => void;
  worker: number;
}

/**
 * Where the worker entry lives. From built code it is dist/worker.js next to this module. When this
 * module runs from its TypeScript sources (vitest), a small JS shim (scripts/ts-worker.mjs)
 * registers a type-stripping loader and imports src/worker.ts with the `@partialnet/source`
 * condition, so workers run the same sources as the tests.
 */
export function workerEntry(): { url: URL; workerData: Record<string, unknown>; execArgv?: string[] } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    return {
      url: new URL('../scripts/ts-worker.mjs', here),
      workerData: { __entry: new URL('./worker.ts', here).href },
      execArgv: ['--conditions=@partialnet/source'],
    };
  }
  // Workers inherit the parent's execArgv; drop flags that are invalid in a worker (e.g. --input-type).
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  return { url: new URL('./worker.js', here), workerData: {}, execArgv };
}

/** A fixed set of worker threads that load samples; replies carry float32 pixels that come back for reuse. */
export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly inflight: number[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly origin = new WeakMap<ArrayBuffer, number>();
  private nextId = 1;
  private closed = false;
  private failure: Error | undefined;
  private readonly exited: Promise<void>[] = [];

  constructor(size: number, specs: readonly TransformSpec[]) {
    const entry = workerEntry();
    for (let i = 0; i < size; i++) {
      const w = new Worker(entry.url, {
        workerData: { ...entry.workerData, specs },
        ...(entry.execArgv ? { execArgv: entry.execArgv } : {}),
      });
      w.on('message', (msg: WorkerReply) => this.onReply(i, msg));
      w.on('error', (err) => this.fail(new Error(`data worker ${i} crashed: ${err.message}`)));
      this.exited.push(
        new Promise((resolve) =>
          w.once('exit', (code) => {
            if (!this.closed) this.fail(new Error(`data worker ${i} exited with code ${code}`));
            resolve();
          }),
        ),
      );
      this.workers.push(w);
      this.inflight.push(0);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private onReply(worker: number, msg: WorkerReply): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    this.inflight[worker]!--;
    if (msg.type === 'error') {
      const e = msg.error;
      const err =
        e.name === 'ImageLoadError'
          ? new ImageLoadError(e.message, e.file ?? '', e.imageId, (e.reason as ImageLoadError['reason']) ?? 'corrupt')
          : Object.assign(new Error(e.message), { name: e.name });
      if (e.stack) err.stack = e.stack;
      p.reject(err);
      return;
    }
    const s = msg.sample;
    this.origin.set(s.pixels, worker);
    p.resolve({
      image: { kind: 'rendered', pixels: new Float32Array(s.pixels, 0, s.width * s.height * 3), width: s.width, height: s.height },
      targets: s.targets,
      meta: s.meta,
    });
  }

  /** Loads, transforms and renders one record on the least busy worker. */
  load(record: SampleRecord, seed: number): Promise<Sample> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('WorkerPool is closed'));
    let best = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.inflight[i]! < this.inflight[best]!) best = i;
    const id = this.nextId++;
    this.inflight[best]!++;
    return new Promise<Sample>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker: best });
      const req: WorkerRequest = { type: 'load', id, record, seed };
      this.workers[best]!.postMessage(req);
    });
  }

  /** Hands a rendered sample's pixel buffer back to the worker that made it. */
  recycle(s: Sample): void {
    if (s.image.kind !== 'rendered' || this.closed) return;
    const buf = s.image.pixels.buffer as ArrayBuffer;
    const w = this.origin.get(buf);
    if (w === undefined || buf.byteLength === 0) return;
    const req: WorkerRequest = { type: 'recycle', buffer: buf };
    this.workers[w]!.postMessage(req, [buf]);
  }

  /** Asks every worker to finish and waits for them to exit (terminating stragglers after timeoutMs). */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new Error('WorkerPool closed'));
    this.pending.clear();
    for (const w of this.workers) w.postMessage({ type: 'close' } satisfies WorkerRequest);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
    const res = await Promise.race([Promise.all(this.exited).then(() => 'ok' as const), timeout]);
    clearTimeout(timer);
    if (res === 'timeout') await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
