// What the page runs: a detector rebuilt from a run's state.json and model.safetensors, or a
// PartialNet backbone recognised from its weights. The model code is the packages' own; the page
// only decodes images and draws.
import { PARTIALNET_PRESETS, PartialNet, type PartialNetConfig, type PartialNetVariant } from '@partialnet/backbone';
import { loadSafetensors, tf, type StateDict } from '@partialnet/core';
import { imageBatch, type RgbImage } from '@partialnet/data/image-batch';
import { createDetector, type Detections } from '@partialnet/detection';
import { parseRunInfo, parseSavedRun, type DetectionRunInfo } from '@partialnet/pipeline/run-info';

export type AnyDetector = ReturnType<typeof createDetector>;

export interface LoadedDetector {
  kind: 'detector';
  model: AnyDetector;
  info: DetectionRunInfo;
  /** What the page shows about the model. */
  label: string;
}

export interface LoadedBackbone {
  kind: 'backbone';
  model: PartialNet;
  numClasses: number;
  /** Class names of a classification run (its state.json), else none. */
  classNames?: string[];
  label: string;
}

export type LoadedModel = LoadedDetector | LoadedBackbone;

/**
 * The model of a run checkpoint from its weights and state.json (text): a detector rebuilt as
 * `partialnet predict` does, or a `train-cls` run's PartialNet classifier with its class names.
 */
export async function loadRun(weights: Blob | Uint8Array, stateJson: string, where = 'state.json'): Promise<LoadedModel> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stateJson);
  } catch (err) {
    throw new Error(`${where}: not JSON (${(err as Error).message})`);
  }
  const task = (parsed as { extra?: { task?: unknown } } | null)?.extra?.task;
  if (task === 'classification') return loadClassifier(weights, parsed, where);
  const { state, info } = parseRunInfo(parsed, where);
  const dict = await loadSafetensors(weights);
  const model = createDetector(info.config.model);
  try {
    model.loadStateDict(dict, { label: `${info.config.preset ?? info.config.model.kind} (iteration ${state.iter})` });
  } catch (err) {
    model.dispose();
    throw err;
  }
  model.eval();
  const name = info.config.preset ?? info.config.model.kind;
  return { kind: 'detector', model, info, label: `${name}, iteration ${state.iter}, ${info.classNames.length} classes (${info.classNames.join(', ')}), scale ${info.config.scale.join('x')}` };
}

async function loadClassifier(weights: Blob | Uint8Array, parsed: unknown, where: string): Promise<LoadedBackbone> {
  const { state, info } = parseSavedRun<{ model: PartialNetConfig }>(parsed, where, 'classification');
  const classNames = Array.isArray(info.classNames) ? (info.classNames as string[]) : undefined;
  const model = PartialNet.create(info.config.model);
  try {
    model.loadStateDict(await loadSafetensors(weights), { label: `the classification run's PartialNet (iteration ${state.iter})` });
  } catch (err) {
    model.dispose();
    throw err;
  }
  model.eval();
  const c = info.config.model;
  return { kind: 'backbone', model, numClasses: c.numClasses, ...(classNames ? { classNames } : {}), label: `PartialNet classifier (embedDim ${c.embedDim}, depths ${c.depths.join('-')}), iteration ${state.iter}, ${c.numClasses} classes` };
}

/** The stem convolution ([embedDim, 3, k, k]) tells the variant; a `head.weight` the class count. */
export function recogniseBackbone(dict: StateDict): { variant: PartialNetVariant; numClasses: number } {
  if ([...dict.keys()].some((k) => /^(rpn_head|roi_head|bbox_head|neck)\./.test(k))) {
    throw new Error("these are a detector's weights: drop the run's state.json (same checkpoint folder) with them");
  }
  const stem = [...dict.values()].find((t) => t.shape.length === 4 && t.shape[1] === 3);
  if (!stem) throw new Error('these weights have no RGB stem convolution ([C, 3, k, k]): not a PartialNet backbone (for a detector, drop its state.json too)');
  const embedDim = stem.shape[0]!;
  const variant = (Object.keys(PARTIALNET_PRESETS) as PartialNetVariant[]).find((v) => PARTIALNET_PRESETS[v].embedDim === embedDim);
  if (!variant) throw new Error(`stem width ${embedDim} matches no PartialNet preset (${Object.entries(PARTIALNET_PRESETS).map(([v, c]) => `${v}: ${c.embedDim}`).join(', ')})`);
  const head = dict.get('head.weight');
  return { variant, numClasses: head ? head.shape[0]! : 0 };
}

export async function loadBackbone(weights: Blob | Uint8Array): Promise<LoadedBackbone> {
  const dict = await loadSafetensors(weights);
  const { variant, numClasses } = recogniseBackbone(dict);
  const model = PartialNet.create(variant, { numClasses });
  try {
    model.loadStateDict(dict, { label: `PartialNet-${variant.toUpperCase()}` });
  } catch (err) {
    model.dispose();
    throw err;
  }
  model.eval();
  return { kind: 'backbone', model, numClasses, label: `PartialNet-${variant.toUpperCase()} backbone${numClasses ? ` with a ${numClasses}-class head` : ' (no classifier head)'}` };
}

export interface DetectorOutput {
  kind: 'detector';
  detections: Detections;
  ms: number;
}

export interface BackboneOutput {
  kind: 'backbone';
  /** Top classes (index, probability), when the model has a head. */
  top: { index: number; prob: number }[];
  /** Feature maps [H, W, C] for strides 4..32. */
  features: { stride: number; shape: number[] }[];
  ms: number;
}

/** Runs a model on one decoded image; every tensor made here is disposed. */
export async function runModel(loaded: LoadedModel, image: RgbImage, name: string): Promise<DetectorOutput | BackboneOutput> {
  const t0 = performance.now();
  if (loaded.kind === 'detector') {
    const batch = imageBatch([image], loaded.info.config.scale, [name]);
    const x = tf.tensor4d(batch.images, batch.shape, 'float32');
    try {
      // `await` also covers the detectors whose predict is asynchronous (reads from the GPU).
      const [detections] = await loaded.model.predict(x, batch.metas);
      return { kind: 'detector', detections: detections!, ms: performance.now() - t0 };
    } finally {
      x.dispose();
    }
  }
  const batch = imageBatch([image], [224, 224], [name]);
  const x = tf.tensor4d(batch.images, batch.shape, 'float32');
  try {
    const feats = loaded.model.features(x);
    const features = feats.map((f, i) => ({ stride: loaded.model.featureInfo()[i]?.stride ?? 4 * 2 ** i, shape: f.shape.slice(1) }));
    tf.dispose(feats);
    let top: { index: number; prob: number }[] = [];
    if (loaded.numClasses > 0) {
      const probs = tf.tidy(() => tf.softmax(loaded.model.forward(x)));
      const values = (await probs.data()) as Float32Array;
      probs.dispose();
      top = Array.from(values, (prob, index) => ({ index, prob })).sort((a, b) => b.prob - a.prob).slice(0, 5);
    }
    return { kind: 'backbone', top, features, ms: performance.now() - t0 };
  } finally {
    x.dispose();
  }
}
