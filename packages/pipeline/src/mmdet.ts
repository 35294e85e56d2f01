import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import {
  PyDict,
  PyTuple,
  flattenCheckpoint,
  loadSafetensorsRaw,
  pyDict,
  pyNumber,
  readWeightsFile,
  saveCheckpoint,
  saveTorchCheckpoint,
  stateDictToPy,
  stripDataParallelPrefix,
  toHostTensor,
  writeFileAtomic,
  type PyValue,
  type RawTensor,
  type StateDict,
} from '@partialnet/core';
import { createDetector, type DetectorConfig } from '@partialnet/detection';
import { readRunInfo, resolveCheckpointDir, type DetectionRunInfo } from './checkpoint.js';
import { MMDET_BACKBONE_MODULE, mmdetConfigText } from './mmdet-config.js';
import { resolveRunConfig, type DetectionRunConfig } from './run-config.js';

/**
 * mmdetection round trips. Our detectors use mmdet 2.x's module names and PyTorch layouts, so the
 * weights move 1:1: import reads an mmdet `.pth` (`{meta, state_dict, optimizer}`) into a run
 * folder that `eval` and `predict` open; export writes a run's weights as an mmdet checkpoint
 * plus an equivalent mmdet 2.x config.
 */

/** The mmdet version written into exported checkpoints' meta (the 2.x line the config targets). */
export const MMDET_VERSION = '2.28.2';

export interface ImportMmdetOptions {
  /** The mmdet checkpoint (`.pth`); a plain state dict with mmdet names works too. */
  checkpoint: string;
  /** A detection preset (`mask-rcnn-s-det`) or a run config describing the model. */
  preset?: string;
  config?: DetectionRunConfig;
  /** Class names: a text file (one per line) or a COCO annotation file (its categories, by id). Default: the checkpoint's meta.CLASSES. */
  classes?: string;
  /** The run folder to create. */
  outDir: string;
  /** Replace a run folder that has checkpoints already. */
  overwrite?: boolean;
}

export interface ImportMmdetResult {
  runDir: string;
  checkpointDir: string;
  classNames: string[];
  categoryIds: number[];
  tensors: number;
  /** The checkpoint's meta (mmdet_version, epoch, iter ...) as flat leaves. */
  meta: Record<string, unknown>;
}

async function readClasses(path: string): Promise<{ names: string[]; ids?: number[] }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read the class names (${(err as Error).message})`);
  }
  if (extname(path).toLowerCase() === '.json') {
    const parsed = JSON.parse(text) as { categories?: { id: number; name: string }[] };
    if (!Array.isArray(parsed.categories) || parsed.categories.length === 0) throw new Error(`${path}: field 'categories': expected a non-empty list of {id, name}`);
    const cats = [...parsed.categories].sort((a, b) => a.id - b.id);
    return { names: cats.map((c) => String(c.name)), ids: cats.map((c) => c.id) };
  }
  const names = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (names.length === 0) throw new Error(`${path}: no class names (expected one per line)`);
  return { names };
}

/** The class count a detection state dict was trained for, from its classifier's shape. */
export function classCountOf(tensors: ReadonlyMap<string, { shape: readonly number[] }>, model: DetectorConfig): number | undefined {
  if (model.kind === 'mask-rcnn') {
    const t = tensors.get('roi_head.bbox_head.fc_cls.weight');
    return t ? t.shape[0]! - 1 : undefined; // mmdet 2.x: background is the last logit
  }
  const t = tensors.get('bbox_head.retina_cls.weight');
  const anchors = (model.head.anchor.scales?.length ?? model.head.anchor.scalesPerOctave ?? 1) * model.head.anchor.ratios.length;
  return t && t.shape[0]! % anchors === 0 ? t.shape[0]! / anchors : undefined;
}

function namesFromMeta(checkpoint: PyValue | undefined): string[] | undefined {
  if (!(checkpoint instanceof PyDict)) return undefined;
  const meta = checkpoint.get('meta');
  if (!(meta instanceof PyDict)) return undefined;
  const classes = meta.get('CLASSES');
  const items = classes instanceof PyTuple ? classes.items : Array.isArray(classes) ? classes : undefined;
  return items && items.every((c) => typeof c === 'string') ? (items as string[]) : undefined;
}

function metaLeaves(checkpoint: PyValue | undefined): Record<string, unknown> {
  if (!(checkpoint instanceof PyDict) || !(checkpoint.get('meta') instanceof PyDict)) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of flattenCheckpoint(checkpoint.get('meta')!).leaves) {
    if (k.startsWith('CLASSES/') || k === 'config' || k === 'env_info') continue; // long, and kept elsewhere
    out[k] = typeof v === 'bigint' ? Number(v) : pyNumber(v as PyValue) ?? (typeof v === 'string' || typeof v === 'boolean' || v === null ? v : String(v));
  }
  return out;
}

/** Reads an mmdet checkpoint into a new run folder (see ImportMmdetOptions). */
export async function importMmdetCheckpoint(options: ImportMmdetOptions): Promise<ImportMmdetResult> {
  const { outDir } = options;
  if (existsSync(join(outDir, 'checkpoints', 'latest.json')) && !options.overwrite) {
    throw new Error(`${outDir} holds a run already (checkpoints/latest.json); choose another --out or pass overwrite`);
  }
  if (!options.preset && !options.config) throw new Error('import mmdet: give a preset (e.g. mask-rcnn-s-det) or a run config for the model');
  const file = await readWeightsFile(options.checkpoint);
  const tensors = stripDataParallelPrefix(file.tensors);
  const runConfig: DetectionRunConfig = { ...options.config, ...(options.preset ? { preset: options.preset } : {}) };
  // The class count comes from the checkpoint's classifier; names from --classes or meta.CLASSES.
  const probe = resolveRunConfig(runConfig, 1).model;
  const count = classCountOf(tensors, probe);
  const given = options.classes ? await readClasses(options.classes) : undefined;
  const names = given?.names ?? namesFromMeta(file.checkpoint) ?? (count ? Array.from({ length: count }, (_, i) => `class_${i + 1}`) : undefined);
  if (!names) throw new Error(`${options.checkpoint}: cannot tell the class count (no meta.CLASSES, no classifier weights for a ${probe.kind}); pass --classes`);
  if (count !== undefined && count !== names.length) {
    throw new Error(`${options.checkpoint}: the classifier has ${count} classes but ${given ? options.classes : 'meta.CLASSES'} names ${names.length}`);
  }
  const config = resolveRunConfig(runConfig, names.length);
  const model = createDetector(config.model);
  try {
    const dict: StateDict = new Map();
    for (const [name, t] of tensors) dict.set(name, toHostTensor(t, `${options.checkpoint}: ${name}`));
    model.loadStateDict(dict, { label: `${config.preset ?? config.model.kind} from ${options.checkpoint}` });
    const meta = metaLeaves(file.checkpoint);
    const info: DetectionRunInfo & { imported: Record<string, unknown> } = {
      task: 'detection',
      config,
      classNames: names,
      categoryIds: given?.ids ?? names.map((_, i) => i + 1),
      imported: { from: resolve(options.checkpoint), format: 'mmdet', meta },
    };
    const iter = typeof meta.iter === 'number' ? meta.iter : 0;
    const epoch = typeof meta.epoch === 'number' ? meta.epoch : 0;
    await mkdir(outDir, { recursive: true });
    const checkpointDir = await saveCheckpoint(outDir, await model.stateDict(), new Map(), {
      iter,
      epoch,
      batchInEpoch: 0,
      randomState: 0,
      extra: info as unknown as Record<string, unknown>,
    });
    return { runDir: outDir, checkpointDir, classNames: names, categoryIds: info.categoryIds, tensors: tensors.size, meta };
  } finally {
    model.dispose();
  }
}

export interface ExportMmdetOptions {
  /** A run folder (its latest checkpoint) or a checkpoint folder. */
  checkpoint: string;
  outDir: string;
  overwrite?: boolean;
  /** GPUs the config's schedule is written for (SGD lr scaling). Default 8. */
  gpus?: number;
}

export interface ExportMmdetResult {
  weights: string;
  config: string;
  backboneModule: string;
  tensors: number;
}

/**
 * Writes `<out>/model.pth` (`{meta: {mmdet_version, CLASSES, epoch, iter, config}, state_dict}`,
 * mmdet names, float32), `<out>/config.py` (mmdet 2.x, `load_from` the weights) and
 * `<out>/partialnet_backbone.py` (registers the official PartialNet as `PartialNetTS`).
 */
export async function exportMmdet(options: ExportMmdetOptions): Promise<ExportMmdetResult> {
  const { dir } = await resolveCheckpointDir(options.checkpoint);
  const { state, info } = await readRunInfo(dir);
  const weights = join(options.outDir, 'model.pth');
  const config = join(options.outDir, 'config.py');
  const backboneModule = join(options.outDir, 'partialnet_backbone.py');
  if (!options.overwrite) {
    for (const f of [weights, config, backboneModule]) if (existsSync(f)) throw new Error(`${f} exists; choose another --out or pass overwrite`);
  }
  await mkdir(options.outDir, { recursive: true });
  const { tensors } = await loadSafetensorsRaw(join(dir, 'model.safetensors'));
  const text = mmdetConfigText(info.config, { classNames: info.classNames, loadFrom: 'model.pth', ...(options.gpus ? { gpus: options.gpus } : {}) });
  const meta = pyDict([
    ['mmdet_version', MMDET_VERSION],
    ['CLASSES', new PyTuple([...info.classNames])],
    ['epoch', state.epoch],
    ['iter', state.iter],
    ['config', text],
    ['exported_by', 'partialnet-ts'],
  ]);
  await saveTorchCheckpoint(weights, pyDict([['meta', meta], ['state_dict', stateDictToPy(tensors as Map<string, RawTensor>)]]));
  await writeFileAtomic(config, text, 'mmdet config');
  await writeFileAtomic(backboneModule, MMDET_BACKBONE_MODULE, 'mmdet backbone module');
  return { weights, config, backboneModule, tensors: tensors.size };
}
