import { extname, readFile } from '#platform';
import type { StateDict } from '../host-tensor.js';
import { toHostTensor, type RawTensor } from './raw-tensor.js';
import { parseSafetensorsRaw, serializeSafetensorsRaw } from './safetensors.js';
import { parseTorchCheckpoint, serializeTorchCheckpoint } from './torch/checkpoint.js';
import type { PyValue } from './torch/py-value.js';
import { findStateDict, stateDictToPy, stripDataParallelPrefix } from './torch/state-dict.js';
import { isZip } from './torch/zip.js';
import { writeFileAtomic } from './write-atomic.js';

/**
 * One entry point for weight files, whatever wrote them: safetensors, or PyTorch `.pth` / `.pt` /
 * `.ckpt` / `.bin` (zip or legacy `torch.save`, plain state dicts, mmdetection and Lightning
 * checkpoints). The format is told by the extension, or by the first bytes for other names.
 */
export type WeightsFormat = 'safetensors' | 'torch';

export function weightsFormatOf(path: string, bytes?: Uint8Array): WeightsFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.safetensors') return 'safetensors';
  if (['.pth', '.pt', '.ckpt', '.bin', '.tar'].includes(ext)) return 'torch';
  if (bytes && (isZip(bytes) || bytes[0] === 0x80)) return 'torch';
  if (bytes) return 'safetensors';
  throw new Error(`${path}: cannot tell the weights format from the extension (use .safetensors, .pth, .pt or .ckpt)`);
}

export interface WeightsFile {
  format: WeightsFormat;
  /** The model tensors, names as stored, dtypes as stored. */
  tensors: Map<string, RawTensor>;
  /** For PyTorch files: the entry the state dict came from (`state_dict`), '' for a plain state dict. */
  entry: string;
  /** For PyTorch files: the whole unpickled checkpoint (meta, optimizer ...). */
  checkpoint?: PyValue;
  /** For safetensors: the header metadata. */
  metadata?: Record<string, string>;
}

export async function readWeightsFile(path: string): Promise<WeightsFile> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new Error(`weights ${path}: cannot read: ${err instanceof Error ? err.message : String(err)}`);
  }
  const format = weightsFormatOf(path, bytes);
  if (format === 'safetensors') {
    const { tensors, metadata } = parseSafetensorsRaw(bytes, path);
    return { format, tensors, entry: '', metadata };
  }
  const checkpoint = parseTorchCheckpoint(bytes, path);
  const { tensors, entry } = findStateDict(checkpoint, path);
  return { format, tensors, entry, checkpoint };
}

/**
 * The model weights of any supported file as float32 / int32 host tensors, ready for
 * `Module.loadStateDict`. A `module.` prefix on every name (DataParallel) is dropped.
 */
export async function loadWeights(path: string): Promise<StateDict> {
  const { tensors } = await readWeightsFile(path);
  const out: StateDict = new Map();
  for (const [name, t] of stripDataParallelPrefix(tensors)) out.set(name, toHostTensor(t, `${path}: ${name}`));
  return out;
}

export interface WriteWeightsOptions {
  format?: WeightsFormat;
  /** safetensors header metadata (ignored for PyTorch files). */
  metadata?: Record<string, string>;
  /** For PyTorch files: write `{entry: state_dict, ...extra}` instead of a plain state dict. */
  torchWrapper?: (stateDict: PyValue) => PyValue;
}

/** Writes tensors (dtypes kept) as safetensors or as a `torch.save` zip, atomically. */
export async function writeWeightsFile(path: string, tensors: ReadonlyMap<string, RawTensor>, options: WriteWeightsOptions = {}): Promise<void> {
  const format = options.format ?? weightsFormatOf(path);
  let bytes: Uint8Array;
  if (format === 'safetensors') {
    bytes = serializeSafetensorsRaw(tensors, options.metadata);
  } else {
    const dict = stateDictToPy(tensors);
    bytes = serializeTorchCheckpoint(options.torchWrapper ? options.torchWrapper(dict) : dict);
  }
  await writeFileAtomic(path, bytes, 'weights');
}
