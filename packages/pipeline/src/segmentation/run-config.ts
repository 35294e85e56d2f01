import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { getSegPreset, isSegPreset, type SegTestMode, type SemanticFpnConfig } from '@partialnet/segmentation';
import { mergeOverrides } from '../run-config.js';
import type { RunSettings } from '../task.js';

export type SegBnMode = 'train' | 'eval' | 'frozen';

/** A segmentation run as a user writes it (`--config run.json`); every field is optional. */
export interface SegRunConfig {
  preset?: string;
  /** Overrides merged into the preset, or a full config with `kind` when there is no preset. */
  model?: Record<string, unknown> | SemanticFpnConfig;
  data?: string;
  trainSplit?: string;
  valSplit?: string;
  /** (long, short) base scale of RandomResize and of the test resize; mmseg ADE20K (2048, 512). */
  scale?: [number, number];
  ratioRange?: [number, number];
  /** [height, width] of the training crops; mmseg ADE20K 512 x 512. */
  cropSize?: [number, number];
  catMaxRatio?: number;
  flipProb?: number;
  photometric?: boolean;
  /** Optimizer steps; default: the recipe's 40k at batch 32 on ADE20K's 20,210 images, scaled (see `scaling`). */
  iters?: number;
  batchSize?: number;
  accumulate?: number;
  lr?: number;
  weightDecay?: number;
  /** Poly schedule power (mmseg 0.9) and final lr as a fraction of lr. */
  power?: number;
  minLrRatio?: number;
  warmupIters?: number;
  warmupRatio?: number;
  clipGradNorm?: number;
  bnMode?: SegBnMode;
  backboneWeights?: string;
  /** Reduce labels by one (0 ignored); default: the layout's (ADE20K yes). */
  reduceZeroLabel?: boolean;
  test?: SegTestMode;
  seed?: number;
  checkpointEvery?: number;
  /** Epochs between evaluations (0: only at the end). */
  evalEvery?: number;
  logEvery?: number;
  workers?: number;
  evalBatchSize?: number;
}

/** The config a run trains with: everything filled in, the model resolved, the iteration scaling stated. */
export interface ResolvedSegRunConfig extends Required<Omit<SegRunConfig, 'preset' | 'model' | 'data' | 'backboneWeights' | 'reduceZeroLabel' | 'iters' | 'test'>>, RunSettings {
  preset?: string;
  model: SemanticFpnConfig;
  data?: string;
  backboneWeights?: string;
  reduceZeroLabel?: boolean;
  /** The iterations asked for (given, or the recipe scaled to this data and batch). */
  iters: number;
  /** How `iters` was chosen, in words (saved with the run). */
  scaling: string;
  /** The runner trains whole epochs: `iters` rounded to them (`maxIters` = epochs x steps per epoch). */
  epochs: number;
  maxIters: number;
  optimizer: 'adamw';
  momentum: number;
  test: SegTestMode;
}

export const SEG_RUN_FIELDS = [
  'preset', 'model', 'data', 'trainSplit', 'valSplit', 'scale', 'ratioRange', 'cropSize', 'catMaxRatio', 'flipProb', 'photometric',
  'iters', 'batchSize', 'accumulate', 'lr', 'weightDecay', 'power', 'minLrRatio', 'warmupIters', 'warmupRatio', 'clipGradNorm', 'bnMode',
  'backboneWeights', 'reduceZeroLabel', 'test', 'seed', 'checkpointEvery', 'evalEvery', 'logEvery', 'workers', 'evalBatchSize',
] as const;

/** The PoolFormer / PVT Semantic FPN recipe on ADE20K: 40k iterations at batch 32 (8 GPUs x 4) over 20,210 images. */
export const ADE20K_RECIPE = { iters: 40000, batch: 32, images: 20210 } as const;

/** The recipe's number of passes over the data (about 63.3 epochs), kept for other data and batch sizes. */
export function recipeIters(numImages: number, imagesPerStep: number): number {
  const epochs = (ADE20K_RECIPE.iters * ADE20K_RECIPE.batch) / ADE20K_RECIPE.images;
  return Math.max(1, Math.round((epochs * numImages) / imagesPerStep));
}

function check(name: string, ok: boolean, expected: string, got: unknown): void {
  if (!ok) throw new Error(`run config: field '${name}': expected ${expected}, got ${JSON.stringify(got)}`);
}

/** Reads a run config JSON, naming unknown fields. */
export async function readSegRunConfig(path: string): Promise<SegRunConfig> {
  if (!existsSync(path)) throw new Error(`${path}: run config not found`);
  let v: unknown;
  try {
    v = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${path}: expected a JSON object`);
  const unknown = Object.keys(v).filter((k) => !(SEG_RUN_FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) throw new Error(`${path}: unknown field(s) ${unknown.join(', ')} (known: ${SEG_RUN_FIELDS.join(', ')})`);
  return v as SegRunConfig;
}

/**
 * Fills in the recipe's defaults: AdamW lr 2e-4, weight decay 1e-4, poly (power 0.9) to 0 over the
 * iterations, no warmup, batch 4, mmseg's ADE20K pipeline (scale 2048x512, ratio 0.5-2, crop 512,
 * cat_max_ratio 0.75, flip 0.5, photometric distortion). Without `iters`, the recipe's 40k
 * iterations at batch 32 on 20,210 images become the same number of epochs on `numTrainImages`
 * at this batch; the learning rate is not scaled (mmseg keeps it when the batch changes).
 */
export function resolveSegRunConfig(c: SegRunConfig, numClasses: number, numTrainImages: number): ResolvedSegRunConfig {
  let model: SemanticFpnConfig;
  if (c.preset !== undefined) {
    if (!isSegPreset(c.preset)) throw new Error(`run config: field 'preset': unknown preset '${c.preset}'`);
    model = mergeOverrides(getSegPreset(c.preset), c.model ?? {}, 'model');
  } else if (c.model && (c.model as { kind?: unknown }).kind === 'semantic-fpn') {
    model = structuredClone(c.model) as SemanticFpnConfig;
  } else {
    throw new Error("run config: give a 'preset' (e.g. semantic-fpn-t0) or a full 'model' config with kind 'semantic-fpn'");
  }
  model = { ...model, numClasses };
  const batchSize = c.batchSize ?? 4;
  const accumulate = c.accumulate ?? 1;
  check('batchSize', Number.isInteger(batchSize) && batchSize >= 1, 'a positive integer', batchSize);
  check('accumulate', Number.isInteger(accumulate) && accumulate >= 1, 'a positive integer', accumulate);
  const perStep = batchSize * accumulate;
  const iters = c.iters ?? recipeIters(numTrainImages, perStep);
  check('iters', Number.isInteger(iters) && iters >= 1, 'a positive integer', iters);
  // The loader keeps the last, smaller batch; the Trainer steps whole epochs.
  const stepsPerEpoch = Math.floor(Math.ceil(numTrainImages / batchSize) / accumulate);
  if (stepsPerEpoch < 1) throw new Error(`run config: ${numTrainImages} training images make no optimizer step of ${batchSize} x ${accumulate}`);
  const epochs = Math.max(1, Math.round(iters / stepsPerEpoch));
  const scaling =
    c.iters !== undefined
      ? `${iters} iterations as given (${((iters * perStep) / numTrainImages).toFixed(2)} epochs of ${numTrainImages} images at ${perStep} per step)`
      : `recipe 40000 iterations x 32 images / 20210 ADE20K images = ${((ADE20K_RECIPE.iters * ADE20K_RECIPE.batch) / ADE20K_RECIPE.images).toFixed(2)} epochs, ` +
        `kept for ${numTrainImages} images at ${perStep} per step: ${iters} iterations; lr not scaled`;
  const r: ResolvedSegRunConfig = {
    ...(c.preset !== undefined ? { preset: c.preset } : {}),
    model,
    ...(c.data !== undefined ? { data: c.data } : {}),
    trainSplit: c.trainSplit ?? 'train',
    valSplit: c.valSplit ?? 'val',
    scale: c.scale ?? [2048, 512],
    ratioRange: c.ratioRange ?? [0.5, 2.0],
    cropSize: c.cropSize ?? [512, 512],
    catMaxRatio: c.catMaxRatio ?? 0.75,
    flipProb: c.flipProb ?? 0.5,
    photometric: c.photometric ?? true,
    iters,
    scaling,
    epochs,
    maxIters: epochs * stepsPerEpoch,
    optimizer: 'adamw',
    momentum: 0.9,
    batchSize,
    accumulate,
    lr: c.lr ?? 2e-4,
    weightDecay: c.weightDecay ?? 1e-4,
    power: c.power ?? 0.9,
    minLrRatio: c.minLrRatio ?? 0,
    warmupIters: c.warmupIters ?? 0,
    warmupRatio: c.warmupRatio ?? 1e-6,
    clipGradNorm: c.clipGradNorm ?? 0,
    bnMode: c.bnMode ?? 'train',
    ...(c.backboneWeights !== undefined ? { backboneWeights: c.backboneWeights } : {}),
    ...(c.reduceZeroLabel !== undefined ? { reduceZeroLabel: c.reduceZeroLabel } : {}),
    test: c.test ?? model.test,
    seed: c.seed ?? 0,
    checkpointEvery: c.checkpointEvery ?? 0,
    evalEvery: c.evalEvery ?? 0,
    logEvery: c.logEvery ?? 10,
    workers: c.workers ?? 0,
    evalBatchSize: c.evalBatchSize ?? 1,
  };
  check('lr', r.lr > 0, 'a positive number', r.lr);
  check('weightDecay', r.weightDecay >= 0, 'a number >= 0', r.weightDecay);
  check('power', r.power > 0, 'a positive number', r.power);
  check('scale', Array.isArray(r.scale) && r.scale.length === 2 && r.scale.every((v) => v >= 32), 'two numbers >= 32', r.scale);
  check('cropSize', Array.isArray(r.cropSize) && r.cropSize.length === 2 && r.cropSize.every((v) => Number.isInteger(v) && v >= 32), 'two integers >= 32', r.cropSize);
  check('bnMode', ['train', 'eval', 'frozen'].includes(r.bnMode), "'train', 'eval' or 'frozen'", r.bnMode);
  for (const k of ['checkpointEvery', 'evalEvery', 'workers', 'warmupIters'] as const) check(k, Number.isInteger(r[k]) && r[k] >= 0, 'an integer >= 0', r[k]);
  for (const k of ['logEvery', 'evalBatchSize'] as const) check(k, Number.isInteger(r[k]) && r[k] >= 1, 'a positive integer', r[k]);
  return r;
}

