/**
 * Where the images, label maps and class names of a semantic segmentation split live, for the
 * layouts users bring: the synthetic shapes set (`partialnet data synth`), ADE20K
 * (ADEChallengeData2016) and mmseg's generic `img_dir` / `ann_dir` layout.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SemanticDataset } from './datasets.js';
import type { ShapesManifest } from './synth.js';

/** ADE20K's 150 classes in label order (after reduce_zero_label), as SceneParsing / mmseg name them. */
export const ADE20K_CLASSES: readonly string[] = [
  'wall', 'building', 'sky', 'floor', 'tree', 'ceiling', 'road', 'bed', 'windowpane', 'grass',
  'cabinet', 'sidewalk', 'person', 'earth', 'door', 'table', 'mountain', 'plant', 'curtain', 'chair',
  'car', 'water', 'painting', 'sofa', 'shelf', 'house', 'sea', 'mirror', 'rug', 'field',
  'armchair', 'seat', 'fence', 'desk', 'rock', 'wardrobe', 'lamp', 'bathtub', 'railing', 'cushion',
  'base', 'box', 'column', 'signboard', 'chest of drawers', 'counter', 'sand', 'sink', 'skyscraper', 'fireplace',
  'refrigerator', 'grandstand', 'path', 'stairs', 'runway', 'case', 'pool table', 'pillow', 'screen door', 'stairway',
  'river', 'bridge', 'bookcase', 'blind', 'coffee table', 'toilet', 'flower', 'book', 'hill', 'bench',
  'countertop', 'stove', 'palm', 'kitchen island', 'computer', 'swivel chair', 'boat', 'bar', 'arcade machine', 'hovel',
  'bus', 'towel', 'light', 'truck', 'tower', 'chandelier', 'awning', 'streetlight', 'booth', 'television receiver',
  'airplane', 'dirt track', 'apparel', 'pole', 'land', 'bannister', 'escalator', 'ottoman', 'bottle', 'buffet',
  'poster', 'stage', 'van', 'ship', 'fountain', 'conveyer belt', 'canopy', 'washer', 'plaything', 'swimming pool',
  'stool', 'barrel', 'basket', 'waterfall', 'tent', 'bag', 'minibike', 'cradle', 'oven', 'ball',
  'food', 'step', 'tank', 'trade name', 'microwave', 'pot', 'animal', 'bicycle', 'lake', 'dishwasher',
  'screen', 'blanket', 'sculpture', 'hood', 'sconce', 'vase', 'traffic light', 'tray', 'ashcan', 'fan',
  'pier', 'crt screen', 'plate', 'monitor', 'bulletin board', 'shower', 'radiator', 'glass', 'clock', 'flag',
];

export type SemanticLayout = 'shapes' | 'ade20k' | 'generic';

export interface SemanticSplit {
  layout: SemanticLayout;
  imageDir: string;
  labelDir: string;
  classNames: string[];
  reduceZeroLabel: boolean;
  dataset: SemanticDataset;
}

export interface OpenSemanticOptions {
  /** Class names for the generic layout when the folder has no classes.txt / classes.json. */
  classNames?: readonly string[];
  /** Overrides the layout's reduce_zero_label (ADE20K: true, others: false). */
  reduceZeroLabel?: boolean;
}

const ADE_SPLITS: Record<string, string> = { train: 'training', val: 'validation', training: 'training', validation: 'validation' };

async function readClassList(dir: string): Promise<string[] | undefined> {
  const txt = join(dir, 'classes.txt');
  if (existsSync(txt)) {
    const names = (await readFile(txt, 'utf8')).split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
    if (names.length === 0) throw new Error(`${txt}: no class names (one per line expected)`);
    return names;
  }
  const json = join(dir, 'classes.json');
  if (existsSync(json)) {
    const v = JSON.parse(await readFile(json, 'utf8')) as unknown;
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string')) throw new Error(`${json}: expected a non-empty JSON array of class names`);
    return v as string[];
  }
  return undefined;
}

/** Which layout `dir` has, or a message naming what was looked for. */
export function detectSemanticLayout(dir: string): SemanticLayout {
  if (!existsSync(dir)) throw new Error(`${dir}: data folder not found`);
  if (existsSync(join(dir, 'shapes.json'))) return 'shapes';
  if (existsSync(join(dir, 'images', 'training')) || existsSync(join(dir, 'images', 'validation'))) return 'ade20k';
  if (existsSync(join(dir, 'img_dir')) && existsSync(join(dir, 'ann_dir'))) return 'generic';
  throw new Error(
    `${dir}: not a semantic segmentation folder: expected shapes.json (partialnet data synth), images/{training,validation} + annotations/... (ADE20K), or img_dir/<split> + ann_dir/<split> (+ classes.txt)`,
  );
}

/**
 * Opens `split` ('train' / 'val'; ADE20K also accepts 'training' / 'validation') of a semantic
 * segmentation folder: its image and label folders, class names and reduce_zero_label setting.
 */
export async function openSemanticSplit(dir: string, split: string, o: OpenSemanticOptions = {}): Promise<SemanticSplit> {
  const layout = detectSemanticLayout(dir);
  let imageDir: string;
  let labelDir: string;
  let classNames: string[];
  let reduceZeroLabel = false;
  if (layout === 'shapes') {
    const path = join(dir, 'shapes.json');
    const manifest = JSON.parse(await readFile(path, 'utf8')) as ShapesManifest;
    const s = (manifest.splits as Record<string, ShapesManifest['splits']['train'] | undefined>)[split];
    if (!s) throw new Error(`${path}: field 'splits': no split '${split}' (have ${Object.keys(manifest.splits ?? {}).join(', ')})`);
    if (typeof s.semantic !== 'string') throw new Error(`${path}: field 'splits.${split}.semantic': missing (re-create the set with partialnet data synth)`);
    if (!Array.isArray(manifest.semanticClasses)) throw new Error(`${path}: field 'semanticClasses': missing`);
    imageDir = join(dir, s.images);
    labelDir = join(dir, s.semantic);
    classNames = [...manifest.semanticClasses];
  } else if (layout === 'ade20k') {
    const sub = ADE_SPLITS[split];
    if (!sub) throw new Error(`${dir}: ADE20K has splits train (training) and val (validation), not '${split}'`);
    imageDir = join(dir, 'images', sub);
    labelDir = join(dir, 'annotations', sub);
    classNames = [...((await readClassList(dir)) ?? ADE20K_CLASSES)];
    reduceZeroLabel = true;
  } else {
    imageDir = join(dir, 'img_dir', split);
    labelDir = join(dir, 'ann_dir', split);
    const listed = (await readClassList(dir)) ?? (o.classNames ? [...o.classNames] : undefined);
    if (!listed) throw new Error(`${dir}: generic layout needs class names: a classes.txt (one per line) or classes.json beside img_dir, or the classNames option`);
    classNames = listed;
  }
  if (o.reduceZeroLabel !== undefined) reduceZeroLabel = o.reduceZeroLabel;
  const dataset = await SemanticDataset.create({ imageDir, labelDir, classNames, reduceZeroLabel });
  if (dataset.length === 0) throw new Error(`${imageDir}: no images`);
  return { layout, imageDir, labelDir, classNames, reduceZeroLabel, dataset };
}
