/**
 * Worker-thread side of the prefetching DataLoader: decodes and transforms samples and renders
 * them (resize, flip, normalize) into float32 buffers that are transferred to the main thread and
 * transferred back for reuse, so the hot loop writes into warm memory.
 *
 * Transferring detaches ArrayBuffers; the first detach in a thread invalidates V8's "array buffer
 * detaching protector" there and makes optimized JS typed-array loops ~2x slower from then on. The
 * render loops are WebAssembly (render-wasm.ts), which that does not affect. (SharedArrayBuffers
 * would avoid the detach, but V8 copies them with a slow relaxed-atomic memcpy: slower overall.)
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadSample } from './sample.js';
import { renderFloat, type TransformSpec } from './transforms.js';
import type { WorkerReply, WorkerRequest, WireSample } from './worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('@partialnet/data worker: not in a worker thread');
const specs = (workerData as { specs: TransformSpec[] }).specs;
const free: ArrayBuffer[] = [];
const MAX_FREE = 8;

function takeBuffer(elements: number): Float32Array {
  const bytes = elements * 4;
  let best = -1;
  for (let i = 0; i < free.length; i++) {
    const b = free[i]!;
    if (b.byteLength >= bytes && (best < 0 || b.byteLength < free[best]!.byteLength)) best = i;
  }
  if (best >= 0) return new Float32Array(free.splice(best, 1)[0]!, 0, elements);
  // Round up so buffers of slightly different sizes (multi-scale) can be reused.
  const cap = Math.ceil(bytes / (1 << 20)) * (1 << 20);
  return new Float32Array(new ArrayBuffer(cap), 0, elements);
}

async function handle(msg: WorkerRequest): Promise<void> {
  if (msg.type === 'recycle') {
    if (free.length < MAX_FREE) free.push(msg.buffer);
    return;
  }
  if (msg.type === 'close') {
    port!.close();
    return;
  }
  try {
    const s = await loadSample(msg.record, specs, msg.seed);
    const [h, w] = s.meta.imgShape;
    const pixels = renderFloat(s, takeBuffer(h * w * 3));
    const sample: WireSample = { pixels: pixels.buffer as ArrayBuffer, width: w, height: h, targets: s.targets, meta: s.meta };
    const transfer: ArrayBuffer[] = [pixels.buffer as ArrayBuffer];
    for (const m of s.targets.masks ?? []) if (m.kind === 'bitmap' && m.data.byteLength === m.data.buffer.byteLength) transfer.push(m.data.buffer as ArrayBuffer);
    const reply: WorkerReply = { type: 'sample', id: msg.id, sample };
    port!.postMessage(reply, transfer);
  } catch (err) {
    const e = err as Error & { file?: string; imageId?: number; reason?: string };
    const reply: WorkerReply = {
      type: 'error',
      id: msg.id,
      error: { name: e.name ?? 'Error', message: e.message ?? String(err), file: e.file, imageId: e.imageId, reason: e.reason, stack: e.stack },
    };
    port!.postMessage(reply);
  }
}

port.on('message', (msg: WorkerRequest) => void handle(msg));
