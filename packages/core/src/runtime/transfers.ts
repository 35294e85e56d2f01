import { tf } from '../tf.js';

/** Bytes of tensor data that crossed between host and device while a counter ran. */
export interface TransferCounts {
  /** Host -> device: uploads of tensor values (tensors made from host arrays). */
  toDevice: number;
  /** Device -> host: reads of tensor values with `data()`. */
  toHost: number;
  uploads: number;
  reads: number;
  /**
   * Synchronous reads (`readSync`). Library code makes none (webgpu refuses them); on wasm these
   * are its own kernels copying an input out of wasm memory (GatherV2 its indices; Slice and
   * Concat did whole inputs before core's replaced them, runtime/wasm-kernels.ts).
   */
  syncReadBytes: number;
  syncReads: number;
}

interface TensorData {
  values?: ArrayLike<number> & { byteLength?: number };
  resource?: unknown;
  shape?: number[];
  dtype?: string;
}

interface PatchableBackend {
  /** webgpu's (and cpu's) table of tensor data. */
  tensorMap?: { get(dataId: object): TensorData | undefined };
  /** wasm's. */
  dataIdMap?: { get(dataId: object): TensorData | undefined };
  write?: (values: { byteLength?: number } | null, shape: number[], dtype: string) => object;
  read?: (dataId: object) => Promise<unknown>;
  readSync?: (dataId: object, ...rest: unknown[]) => unknown;
  uploadToGPU?: (dataId: object) => void;
}

function byteSize(data: TensorData | undefined): number {
  if (!data?.shape) return 0;
  let n = 1;
  for (const d of data.shape) n *= d;
  return data.dtype === 'string' ? 0 : 4 * n;
}

/**
 * Counts host<->device bytes on the active backend until `stop()` (wrapping its upload and read
 * paths on the backend object; nothing changes in what they do). webgpu: an upload is a tensor's
 * values copied into a GPU buffer, a read one copied out of a GPU buffer (values already on the
 * host are not counted). wasm: its memory is the device, a write or read copies into or out of
 * it. cpu has no device: nothing is counted. Uniforms and shader constants are not counted.
 */
export function countTransfers(): { counts: TransferCounts; stop(): void } {
  const counts: TransferCounts = { toDevice: 0, toHost: 0, uploads: 0, reads: 0, syncReadBytes: 0, syncReads: 0 };
  const name = tf.getBackend();
  const backend = tf.backend() as unknown as PatchableBackend;
  const own: (keyof PatchableBackend)[] = [];
  const patch = <K extends keyof PatchableBackend>(key: K, wrap: (original: NonNullable<PatchableBackend[K]>) => PatchableBackend[K]): void => {
    const original = backend[key];
    if (typeof original !== 'function') return;
    (backend as Record<string, unknown>)[key] = wrap((original as (...a: unknown[]) => unknown).bind(backend) as NonNullable<PatchableBackend[K]>);
    own.push(key);
  };
  const table = backend.tensorMap ?? backend.dataIdMap;
  const info = (dataId: object) => table?.get(dataId);
  if (name !== 'cpu') {
    const onHost = (dataId: object) => name === 'webgpu' && info(dataId)?.values != null;
    if (backend.uploadToGPU) {
      patch('uploadToGPU', (original) => (dataId: object) => {
        const d = info(dataId);
        if (d && d.resource == null && d.values != null) {
          counts.toDevice += byteSize(d);
          counts.uploads++;
        }
        original(dataId);
      });
    } else {
      patch('write', (original) => (values, shape, dtype) => {
        if (values && typeof values.byteLength === 'number') {
          counts.toDevice += values.byteLength;
          counts.uploads++;
        }
        return original(values, shape, dtype);
      });
    }
    let inRead = false;
    patch('read', (original) => async (dataId: object) => {
      if (inRead || onHost(dataId)) return original(dataId);
      counts.toHost += byteSize(info(dataId));
      counts.reads++;
      // wasm's read calls readSync before it returns its promise: count once.
      inRead = true;
      let pending: Promise<unknown>;
      try {
        pending = original(dataId);
      } finally {
        inRead = false;
      }
      return pending;
    });
    patch('readSync', (original) => (dataId: object, ...rest: unknown[]) => {
      if (!inRead && !onHost(dataId)) {
        counts.syncReadBytes += byteSize(info(dataId));
        counts.syncReads++;
      }
      return original(dataId, ...rest);
    });
  }
  return {
    counts,
    stop() {
      for (const key of own) delete (backend as Record<string, unknown>)[key];
    },
  };
}
