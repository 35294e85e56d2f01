import { readFile } from 'node:fs/promises';
import { PARTIALNET_CONFIG_FIELDS, type PartialNetConfig } from '@partialnet/backbone';
import type { IouType } from '@partialnet/coco';
import { getPreset, listPresets, type DetectorConfig } from '@partialnet/detection';

/**
 * How the backbone's BatchNorms behave in training: `train` (batch statistics, affine trained),
 * `eval` (mmdet's norm_eval: running statistics, affine trained) or `frozen` (detectron2's
 * FrozenBN: running statistics, affine fixed).
 */
export type BnMode = 'train' | 'eval' | 'frozen';

export type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/**
 * One detection training run, as a plain JSON-able object (`--config file.json`, saved with every
 * checkpoint). Every field is optional here; `resolveRunConfig` fills the defaults.
 */
export interface DetectionRunConfig {
  /** A preset name (`mask-rcnn-t0`); `model` then holds overrides merged into it. */
  preset?: string;
  /** A full detector config (with `kind`) when there is no preset, else a partial override of it. */
  model?: DetectorConfig | DeepPartial<DetectorConfig>;
  /** Data root: a `partialnet data synth` folder or `DIR/annotations/instances_<split>.json + DIR/<split>/`. */
  data?: string;
  trainSplit?: string;
  valSplit?: string;
  /** Resize (long, short) edge limits, keeping the aspect ratio. Default [1333, 800]. */
  scale?: [number, number];
  /** Horizontal flip probability in training. Default 0.5. */
  flipProb?: number;
  epochs?: number;
  /** Images per batch. Default 2 (mmdet's per-GPU batch). */
  batchSize?: number;
  /** Batches whose gradients make one optimizer step. Default 1. */
  accumulate?: number;
  /**
   * Images per forward/backward pass, a divisor of batchSize: each batch is cut into micro-batches
   * of this many images whose gradients are accumulated into the batch's (BatchNorm statistics and
   * loss normalisation per micro-batch). Default: the whole batch, except on wasm, where a batch
   * of more than 1333x800 pixels is split to fit the 4 GiB heap; the saved config holds the value used.
   */
  microBatch?: number;
  optimizer?: 'adamw' | 'sgd';
  /** Default (`defaultLr`): AdamW 2e-4, 1e-4 for M / L backbones (official configs); SGD 0.02 (Mask R-CNN) / 0.01 (RetinaNet) * images per step / 16. */
  lr?: number;
  weightDecay?: number;
  /** SGD momentum. */
  momentum?: number;
  /** No weight decay on norms and biases (every parameter of rank <= 1). Default false (mmdet). */
  noDecayNormBias?: boolean;
  schedule?: 'step' | 'cosine';
  /** Step milestones in epochs of this run (may be fractional). Default epochs 8 and 11 of 12, scaled. */
  steps?: number[];
  /** Default: 500, or a third of the run when that is shorter. */
  warmupIters?: number;
  warmupRatio?: number;
  /** Final lr of the cosine schedule, as a fraction of lr. */
  minLrRatio?: number;
  /** Clip the global gradient norm; 0 = off (the default, as mmdet 2.x 1x configs and the official ones). */
  clipGradNorm?: number;
  /** mmdet frozen_stages (-1 none, 0 stem, k stem + stages 1..k). */
  frozenStages?: number;
  /** Default `train`: the official backbone ignores norm_eval and trains with batch statistics. */
  bnMode?: BnMode;
  /** ImageNet-style backbone weights (safetensors, .pth or .ckpt; official PartialNet names). */
  backboneWeights?: string;
  seed?: number;
  /** Optimizer steps between checkpoints (0: at the end of each epoch only). */
  checkpointEvery?: number;
  /** Epochs between evaluations on the val split (0: never). */
  evalEvery?: number;
  /** Optimizer steps between log.jsonl records. */
  logEvery?: number;
  /** Data loading worker threads. */
  workers?: number;
  /** Images per inference batch in evaluation. Default: batchSize. */
  evalBatchSize?: number;
}

/** A run config with every default filled in and the model config complete. */
export interface ResolvedRunConfig
  extends Required<Omit<DetectionRunConfig, 'preset' | 'model' | 'backboneWeights' | 'data' | 'lr' | 'steps' | 'warmupIters'>> {
  preset?: string;
  model: DetectorConfig;
  data?: string;
  backboneWeights?: string;
  lr: number;
  steps: number[];
  /** Undefined: decided from the run length (`warmupItersFor`). */
  warmupIters?: number;
}

const FIELDS: Record<keyof DetectionRunConfig, 'string' | 'number' | 'boolean' | 'object' | 'numbers' | 'scale'> = {
  preset: 'string',
  model: 'object',
  data: 'string',
  trainSplit: 'string',
  valSplit: 'string',
  scale: 'scale',
  flipProb: 'number',
  epochs: 'number',
  batchSize: 'number',
  accumulate: 'number',
  microBatch: 'number',
  optimizer: 'string',
  lr: 'number',
  weightDecay: 'number',
  momentum: 'number',
  noDecayNormBias: 'boolean',
  schedule: 'string',
  steps: 'numbers',
  warmupIters: 'number',
  warmupRatio: 'number',
  minLrRatio: 'number',
  clipGradNorm: 'number',
  frozenStages: 'number',
  bnMode: 'string',
  backboneWeights: 'string',
  seed: 'number',
  checkpointEvery: 'number',
  evalEvery: 'number',
  logEvery: 'number',
  workers: 'number',
  evalBatchSize: 'number',
};

/** The field names a run config accepts (for usage texts and error messages). */
export const RUN_CONFIG_FIELDS = Object.keys(FIELDS) as (keyof DetectionRunConfig)[];

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks a parsed config object field by field; `where` (a file name) prefixes every message, so
 * a bad file says which file and which field.
 */
export function checkRunConfig(value: unknown, where = 'run config'): DetectionRunConfig {
  if (!isPlainObject(value)) throw new Error(`${where}: expected a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  const problems: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    const kind = FIELDS[key as keyof DetectionRunConfig];
    if (!kind) {
      problems.push(`field '${key}': unknown (known fields: ${RUN_CONFIG_FIELDS.join(', ')})`);
      continue;
    }
    if (v === undefined) continue;
    const bad = (expected: string) => problems.push(`field '${key}': expected ${expected}, got ${JSON.stringify(v)}`);
    if (kind === 'string' && typeof v !== 'string') bad('a string');
    else if (kind === 'number' && !(typeof v === 'number' && Number.isFinite(v))) bad('a number');
    else if (kind === 'boolean' && typeof v !== 'boolean') bad('true or false');
    else if (kind === 'object' && !isPlainObject(v)) bad('an object');
    else if (kind === 'numbers' && !(Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x)))) bad('an array of numbers');
    else if (kind === 'scale' && !(Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x) && x >= 32))) bad('[long, short], two integers >= 32');
  }
  if (problems.length > 0) throw new Error(`${where}:\n  ${problems.join('\n  ')}`);
  return value as DetectionRunConfig;
}

/** Reads and checks a `--config` JSON file. */
export async function readRunConfig(path: string): Promise<DetectionRunConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read the config file (${(err as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
  return checkRunConfig(parsed, path);
}

/**
 * `override` merged into `base`: objects recursively, anything else (arrays included) replaced.
 * Keys the base does not have are errors, so a typo in an override never passes silently.
 */
export function mergeOverrides<T>(base: T, override: unknown, path = 'model'): T {
  if (!isPlainObject(override)) return override as T;
  if (!isPlainObject(base)) throw new Error(`${path}: expected ${JSON.stringify(base)}-like value, got an object`);
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) {
    if (!(k in base)) {
      // Optional fields the preset leaves out (frozenStages, dropPath) may be added.
      if (path === 'model.backbone' && (k === 'frozenStages' || k === 'dropPath')) {
        out[k] = v;
        continue;
      }
      if (path === 'model.backbone' && k === 'config') {
        out[k] = checkBackboneConfig(v);
        continue;
      }
      throw new Error(`${path}.${k}: unknown field (known: ${Object.keys(base).join(', ')})`);
    }
    if (path === 'model.backbone' && k === 'config') {
      // PartialNet config fields are all optional: merged without the base's key list, checked by name.
      out[k] = { ...(base[k] as object), ...checkBackboneConfig(v) };
      continue;
    }
    out[k] = isPlainObject(v) && isPlainObject(base[k]) ? mergeOverrides(base[k], v, `${path}.${k}`) : v;
  }
  return out as T;
}

/** A `model.backbone.config` object: known PartialNet fields only (values are checked when the model is built). */
function checkBackboneConfig(v: unknown): Partial<PartialNetConfig> {
  if (!isPlainObject(v)) throw new Error(`model.backbone.config: expected an object of PartialNet config fields, got ${JSON.stringify(v)}`);
  for (const k of Object.keys(v)) {
    if (!(PARTIALNET_CONFIG_FIELDS as readonly string[]).includes(k)) {
      throw new Error(`model.backbone.config.${k}: unknown field (known: ${PARTIALNET_CONFIG_FIELDS.join(', ')})`);
    }
  }
  return v as Partial<PartialNetConfig>;
}

const positiveInt = (name: string, v: number) => {
  if (!(Number.isInteger(v) && v >= 1)) throw new Error(`run config: field '${name}': expected a positive integer, got ${v}`);
  return v;
};
const nonNegativeInt = (name: string, v: number) => {
  if (!(Number.isInteger(v) && v >= 0)) throw new Error(`run config: field '${name}': expected an integer >= 0, got ${v}`);
  return v;
};

/**
 * Fills the defaults of a run config and builds its complete model config for `numClasses`
 * classes (the data set's). Fails with the field name on a bad value.
 */
export function resolveRunConfig(config: DetectionRunConfig, numClasses: number): ResolvedRunConfig {
  const c = checkRunConfig(config);
  let model: DetectorConfig;
  if (c.preset !== undefined) {
    if (!listPresets().includes(c.preset)) throw new Error(`unknown detection preset '${c.preset}'; known presets: ${listPresets().join(', ')}`);
    model = mergeOverrides(getPreset(c.preset), c.model ?? {});
  } else if (c.model && 'kind' in c.model && (c.model.kind === 'retinanet' || c.model.kind === 'mask-rcnn')) {
    // A full config: fill what it leaves out from the preset of its kind, so small files work.
    model = mergeOverrides(getPreset(c.model.kind === 'retinanet' ? 'retinanet-t0' : 'mask-rcnn-t0'), c.model);
  } else {
    throw new Error(`run config: give 'preset' (one of ${listPresets().join(', ')}) or a 'model' with kind 'retinanet' or 'mask-rcnn'`);
  }
  model = { ...model, numClasses: positiveInt('numClasses', numClasses) };
  // Written into the model config too, so that resolving a resolved config changes nothing.
  const frozenStages = c.frozenStages ?? model.backbone.frozenStages ?? -1;
  if (!(Number.isInteger(frozenStages) && frozenStages >= -1 && frozenStages <= 4)) throw new Error(`run config: field 'frozenStages': expected -1..4, got ${frozenStages}`);
  model = { ...model, backbone: { ...model.backbone, frozenStages } };

  const optimizer = c.optimizer ?? 'adamw';
  if (optimizer !== 'adamw' && optimizer !== 'sgd') throw new Error(`run config: field 'optimizer': expected 'adamw' or 'sgd', got '${optimizer}'`);
  const schedule = c.schedule ?? 'step';
  if (schedule !== 'step' && schedule !== 'cosine') throw new Error(`run config: field 'schedule': expected 'step' or 'cosine', got '${schedule}'`);
  // The official PartialNet detection configs pass norm_eval to a backbone that ignores it: its
  // BatchNorms train with batch statistics, with or without ImageNet weights. So does the default here.
  const bnMode = c.bnMode ?? 'train';
  if (!['train', 'eval', 'frozen'].includes(bnMode)) throw new Error(`run config: field 'bnMode': expected 'train', 'eval' or 'frozen', got '${bnMode}'`);
  const epochs = positiveInt('epochs', c.epochs ?? 12);
  const batchSize = positiveInt('batchSize', c.batchSize ?? 2);
  const accumulate = positiveInt('accumulate', c.accumulate ?? 1);
  const microBatch = positiveInt('microBatch', c.microBatch ?? batchSize);
  if (batchSize % microBatch !== 0) throw new Error(`run config: field 'microBatch': expected a divisor of batchSize (${batchSize}), got ${microBatch}`);
  const lr = c.lr ?? defaultLr(model, optimizer, batchSize * accumulate);
  if (!(lr > 0)) throw new Error(`run config: field 'lr': expected a positive number, got ${lr}`);
  const flipProb = c.flipProb ?? 0.5;
  if (!(flipProb >= 0 && flipProb <= 1)) throw new Error(`run config: field 'flipProb': expected 0..1, got ${flipProb}`);
  const warmupRatio = c.warmupRatio ?? 0.001;
  if (!(warmupRatio >= 0 && warmupRatio <= 1)) throw new Error(`run config: field 'warmupRatio': expected 0..1, got ${warmupRatio}`);
  const steps = c.steps ?? [(8 * epochs) / 12, (11 * epochs) / 12];
  if (steps.some((s, i) => s < 0 || (i > 0 && s < steps[i - 1]!))) throw new Error(`run config: field 'steps': expected ascending epochs >= 0, got [${steps.join(', ')}]`);
  return {
    ...(c.preset !== undefined ? { preset: c.preset } : {}),
    model,
    ...(c.data !== undefined ? { data: c.data } : {}),
    trainSplit: c.trainSplit ?? 'train',
    valSplit: c.valSplit ?? 'val',
    scale: c.scale ?? [1333, 800],
    flipProb,
    epochs,
    batchSize,
    accumulate,
    microBatch,
    optimizer,
    lr,
    weightDecay: c.weightDecay ?? 1e-4,
    momentum: c.momentum ?? 0.9,
    noDecayNormBias: c.noDecayNormBias ?? false,
    schedule,
    steps,
    ...(c.warmupIters !== undefined ? { warmupIters: nonNegativeInt('warmupIters', c.warmupIters) } : {}),
    warmupRatio,
    minLrRatio: c.minLrRatio ?? 0,
    // Neither mmdet 2.x's retinanet / mask_rcnn 1x nor the official PartialNet configs clip gradients.
    clipGradNorm: c.clipGradNorm ?? 0,
    frozenStages,
    bnMode,
    ...(c.backboneWeights !== undefined ? { backboneWeights: c.backboneWeights } : {}),
    seed: c.seed ?? 0,
    checkpointEvery: nonNegativeInt('checkpointEvery', c.checkpointEvery ?? 0),
    evalEvery: nonNegativeInt('evalEvery', c.evalEvery ?? 1),
    logEvery: positiveInt('logEvery', c.logEvery ?? 10),
    workers: nonNegativeInt('workers', c.workers ?? 0),
    evalBatchSize: positiveInt('evalBatchSize', c.evalBatchSize ?? batchSize),
  };
}

/**
 * The reference learning rates. AdamW: the official PartialNet detection configs, 2e-4 for S and
 * 1e-4 for M and L (smaller variants take S's). SGD: mmdet 2.x's 1x configs, 0.02 per 16 images for
 * Mask R-CNN and 0.01 per 16 images for RetinaNet, scaled linearly to the images per step.
 */
export function defaultLr(model: DetectorConfig, optimizer: 'adamw' | 'sgd', imagesPerStep: number): number {
  if (optimizer === 'adamw') return ['m', 'l', 'm-det', 'l-det'].includes(model.backbone.variant) ? 1e-4 : 2e-4;
  return ((model.kind === 'retinanet' ? 0.01 : 0.02) * imagesPerStep) / 16;
}

/** The IoU types a model's detections can be evaluated with. */
export function iouTypesOf(model: DetectorConfig): IouType[] {
  return model.kind === 'mask-rcnn' && model.roi.mask ? ['bbox', 'segm'] : ['bbox'];
}
