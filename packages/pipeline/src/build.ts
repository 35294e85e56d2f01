import { BatchNorm2d, loadWeights, type LrScheduleConfig, type Optimizer, type ParamGroup, type StateDict, type tf } from '@partialnet/core';
import { createDetector, type MaskRCNN, type RetinaNet } from '@partialnet/detection';
import type { BnMode, ResolvedRunConfig } from './run-config.js';
import { optimizerFor } from './runner.js';

export type AnyDetector = RetinaNet | MaskRCNN;

/** Prefixes other tools put in front of backbone names (mmdet checkpoints, DataParallel). */
const WRAPPER_PREFIXES = ['state_dict.', 'model.', 'module.', 'backbone.'];
/** The classifier of an ImageNet checkpoint: not part of a detection backbone. */
const CLASSIFIER = /^(head|avgpool_pre_head)\./;

/**
 * Loads ImageNet-style PartialNet weights (official names) into `model.backbone`: safetensors, or
 * PyTorch `.pth` / `.ckpt` (plain state dicts, the `state_dict` of mmdet and Lightning checkpoints).
 * The classifier is dropped; names wrapped by mmdet or DataParallel are unwrapped. Anything else
 * that does not fit fails with the mismatching names.
 */
export async function loadBackboneWeights(model: AnyDetector, path: string): Promise<{ loaded: number; missing: string[] }> {
  let dict: StateDict;
  try {
    dict = await loadWeights(path);
  } catch (err) {
    throw new Error(`${path}: cannot read backbone weights (${(err as Error).message})`);
  }
  const names = [...dict.keys()];
  const prefix = WRAPPER_PREFIXES.find((p) => names.length > 0 && names.some((n) => n.startsWith(`${p}patch_embed.`)));
  const own: StateDict = new Map();
  for (const [name, t] of dict) {
    const bare = prefix && name.startsWith(prefix) ? name.slice(prefix.length) : name;
    if (prefix && !name.startsWith(prefix)) continue; // necks and heads of a detection checkpoint
    if (!CLASSIFIER.test(bare)) own.set(bare, t);
  }
  let result;
  try {
    result = model.backbone.loadStateDict(own);
  } catch (err) {
    throw new Error(`${path}: these weights do not fit the ${model.config.backbone.variant} backbone: ${(err as Error).message}`);
  }
  return { loaded: own.size, missing: result.missing };
}

/**
 * Sets training mode with the backbone's BatchNorms as `bnMode` says. Frozen norms drop out of
 * `parameters()` through tfjs's `trainable` flag, so the optimizer and the gradient tape skip them.
 */
export function setTrainMode(model: AnyDetector, bnMode: BnMode): void {
  model.train();
  for (const [, m] of model.backbone.namedModules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    if (bnMode !== 'train') m.train(false);
    m.frozen = bnMode === 'frozen';
    m.weight.trainable = bnMode !== 'frozen';
    m.bias.trainable = bnMode !== 'frozen';
  }
}

/** The model of a run, its ImageNet weights loaded when the config names them, in training mode. */
export async function buildDetector(config: ResolvedRunConfig): Promise<AnyDetector> {
  const model = createDetector(config.model);
  try {
    if (config.backboneWeights) await loadBackboneWeights(model, config.backboneWeights);
  } catch (err) {
    model.dispose();
    throw err;
  }
  setTrainMode(model, config.bnMode);
  return model;
}

/**
 * The model's trainable parameters as optimizer groups. With `noDecayNormBias`, parameters of rank
 * <= 1 (norm scales and shifts, biases) form a group without weight decay.
 */
export function detectionParamGroups(model: AnyDetector, config: ResolvedRunConfig): ParamGroup[] {
  const decay: tf.Variable[] = [];
  const noDecay: tf.Variable[] = [];
  for (const v of model.parameters()) (config.noDecayNormBias && v.rank <= 1 ? noDecay : decay).push(v);
  return [{ params: decay }, ...(noDecay.length > 0 ? [{ params: noDecay, weightDecay: 0 }] : [])];
}

/** AdamW or SGD over `detectionParamGroups`. */
export function buildOptimizer(model: AnyDetector, config: ResolvedRunConfig): Optimizer {
  return optimizerFor(detectionParamGroups(model, config), config);
}

/** mmdet's 500 warmup iterations, shortened to a third of a short run so that it trains at all. */
export function warmupItersFor(config: ResolvedRunConfig, maxIters: number): number {
  return config.warmupIters ?? Math.min(500, Math.floor(maxIters / 3));
}

/** Linear warmup + step (milestones in epochs, converted to optimizer steps) or cosine. */
export function buildSchedule(config: ResolvedRunConfig, itersPerEpoch: number): LrScheduleConfig {
  const maxIters = itersPerEpoch * config.epochs;
  const warmup = warmupItersFor(config, maxIters);
  return {
    lr: config.lr,
    policy:
      config.schedule === 'cosine'
        ? { type: 'cosine', maxIters, minLr: config.lr * config.minLrRatio }
        : { type: 'step', milestones: config.steps.map((e) => Math.round(e * itersPerEpoch)), gamma: 0.1 },
    ...(warmup > 0 ? { warmup: { iters: warmup, ratio: config.warmupRatio } } : {}),
  };
}
