import { access } from '#platform';
import type { RawDType, RawTensor } from './raw-tensor.js';
import { renameTensors, type RenameOptions } from './torch/state-dict.js';
import { readWeightsFile, weightsFormatOf, writeWeightsFile, type WeightsFile, type WeightsFormat } from './weights-file.js';

/** BatchNorm statistics: stored in state dicts but not learned parameters. */
const BUFFER_SUFFIX = /\.(running_mean|running_var|num_batches_tracked)$/;

export interface TensorRow {
  name: string;
  dtype: RawDType;
  shape: readonly number[];
  numel: number;
}

export interface WeightsListing {
  path: string;
  format: WeightsFormat;
  /** Where the state dict was found in a nested checkpoint (`state_dict`), '' for a plain one. */
  entry: string;
  /** Top-level keys of a PyTorch checkpoint other than the state dict (meta, optimizer ...). */
  otherEntries: string[];
  rows: TensorRow[];
  /** Elements of every tensor except BatchNorm running statistics and counters. */
  parameterCount: number;
  /** Elements of every tensor. */
  elementCount: number;
  bytes: number;
  dtypes: Partial<Record<RawDType, number>>;
}

export function listTensors(tensors: ReadonlyMap<string, RawTensor>): Pick<WeightsListing, 'rows' | 'parameterCount' | 'elementCount' | 'bytes' | 'dtypes'> {
  const rows: TensorRow[] = [];
  let parameterCount = 0;
  let elementCount = 0;
  let bytes = 0;
  const dtypes: Partial<Record<RawDType, number>> = {};
  for (const [name, t] of tensors) {
    rows.push({ name, dtype: t.dtype, shape: t.shape, numel: t.numel });
    elementCount += t.numel;
    bytes += t.bytes.length;
    if (!BUFFER_SUFFIX.test(name)) parameterCount += t.numel;
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
  }
  return { rows, parameterCount, elementCount, bytes, dtypes };
}

/** What a weights file holds: names, shapes, dtypes and counts. */
export async function describeWeightsFile(path: string): Promise<WeightsListing> {
  return listing(path, await readWeightsFile(path));
}

function listing(path: string, file: WeightsFile): WeightsListing {
  const otherEntries: string[] = [];
  if (file.entry !== '' && file.checkpoint instanceof Map) {
    for (const k of file.checkpoint.keys()) if (String(k) !== file.entry) otherEntries.push(String(k));
  }
  return { path, format: file.format, entry: file.entry, otherEntries, ...listTensors(file.tensors) };
}

export interface ConvertOptions extends RenameOptions {
  /** Replace an existing output file (refused otherwise). */
  overwrite?: boolean;
}

export interface ConvertResult {
  input: WeightsListing;
  outputFormat: WeightsFormat;
  tensors: number;
  renamed: number;
}

/**
 * Converts between safetensors and PyTorch files (`.pth` / `.pt` / `.ckpt`). The model state dict
 * is taken (the `state_dict` entry of mmdet / Lightning checkpoints), names stay as they are unless
 * a prefix option says otherwise, and every dtype and bit is kept. PyTorch output is a plain state
 * dict (an OrderedDict of tensors) that `torch.load(..., weights_only=True)` reads.
 */
export async function convertWeights(input: string, output: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  const outputFormat = weightsFormatOf(output);
  if (!options.overwrite) {
    const exists = await access(output).then(
      () => true,
      () => false,
    );
    if (exists) throw new Error(`${output} exists; pass overwrite (--force) to replace it`);
  }
  const file = await readWeightsFile(input);
  const renamed = renameTensors(file.tensors, options);
  let changed = 0;
  const before = [...file.tensors.keys()];
  [...renamed.keys()].forEach((n, i) => {
    if (n !== before[i]) changed++;
  });
  const metadata = file.format === 'safetensors' ? file.metadata : undefined;
  await writeWeightsFile(output, renamed, { format: outputFormat, ...(metadata ? { metadata } : {}) });
  return {
    input: listing(input, file),
    outputFormat,
    tensors: renamed.size,
    renamed: changed,
  };
}
