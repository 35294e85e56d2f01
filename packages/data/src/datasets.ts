import { readdir, stat } from 'node:fs/promises';
import { extname, join, basename, resolve } from 'node:path';
import { CocoGroundTruth, loadInstances } from '@partialnet/coco';
import type { Dataset } from './loader.js';
import type { RecordMask, RleLike, SampleRecord } from './types.js';

// ---- COCO instances -------------------------------------------------------------------------

/** The parts of a COCO instances file this package reads (structurally a subset of @partialnet/coco's types). */
export interface CocoInstancesLike {
  images: { id: number; file_name: string; width: number; height: number }[];
  annotations: {
    id: number;
    image_id: number;
    category_id: number;
    bbox: [number, number, number, number] | number[];
    area?: number;
    iscrowd?: 0 | 1 | number;
    segmentation?: number[][] | RleLike | unknown;
  }[];
  categories: { id: number; name: string; supercategory?: string }[];
}

export interface CocoDatasetOptions {
  /** Drop images that have no usable (non-crowd) instance: usual for training. Default false. */
  filterEmpty?: boolean;
  /** Load instance masks (polygons or RLE). Default true. */
  withMasks?: boolean;
  /** Keep crowd annotations as ignore regions (default); false drops them altogether. */
  crowdAsIgnore?: boolean;
  /** Drop instances whose box is narrower or lower than this many pixels. Default 1 (mmdet). */
  minBoxSize?: number;
  /** Where the annotations come from (a file name), for messages. */
  source?: string;
  /** Told once, after loading, which annotations were dropped and why (default: console.warn). */
  onWarning?: (message: string) => void;
}

/** An annotation the dataset could not use. */
export interface DroppedAnnotation {
  id: number;
  imageId: number;
  reason: string;
}

/**
 * COCO instances as a Dataset. Boxes become [x1, y1, x2, y2]; category ids map to contiguous
 * labels in ascending id order (`categoryIdToLabel` / `labelToCategoryId`); crowd annotations
 * become ignore boxes.
 */
export class CocoDataset implements Dataset {
  readonly categoryIds: readonly number[];
  readonly classNames: readonly string[];
  private readonly idToLabel: Map<number, number>;
  private readonly records: SampleRecord[];
  /** Annotations left out because their mask cannot be used (reported once through `onWarning`). */
  readonly dropped: DroppedAnnotation[] = [];

  /** `coco` is a parsed instances JSON or a validated `CocoGroundTruth` from @partialnet/coco. */
  constructor(
    coco: CocoInstancesLike | CocoGroundTruth,
    readonly imageRoot: string,
    options: CocoDatasetOptions = {},
  ) {
    const cats = [...coco.categories].sort((a, b) => a.id - b.id);
    this.categoryIds = cats.map((c) => c.id);
    this.classNames = cats.map((c) => c.name);
    this.idToLabel = new Map(cats.map((c, i) => [c.id, i]));
    const withMasks = options.withMasks ?? true;
    const crowdAsIgnore = options.crowdAsIgnore ?? true;
    const minSize = options.minBoxSize ?? 1;
    const byImage = new Map<number, CocoInstancesLike['annotations']>();
    for (const a of annotationsOf(coco, withMasks)) {
      let list = byImage.get(a.image_id);
      if (!list) byImage.set(a.image_id, (list = []));
      list.push(a);
    }
    const root = resolve(imageRoot);
    this.records = [];
    for (const img of coco.images) {
      if (typeof img.file_name !== 'string') throw new Error(`image ${img.id}: no file_name`);
      const r: SampleRecord = {
        index: 0,
        imageId: img.id,
        file: join(root, img.file_name),
        width: img.width,
        height: img.height,
        boxes: [],
        labels: [],
        ignoreBoxes: [],
        annotationIds: [],
      };
      if (withMasks) r.masks = [];
      for (const a of byImage.get(img.id) ?? []) {
        const [x, y, w, h] = a.bbox as number[];
        if (!(w! > 0 && h! > 0)) continue;
        const box = [x!, y!, x! + w!, y! + h!];
        if (a.iscrowd) {
          if (crowdAsIgnore) r.ignoreBoxes!.push(...box);
          continue;
        }
        if (w! < minSize || h! < minSize) continue;
        const label = this.idToLabel.get(a.category_id);
        if (label === undefined) throw new Error(`annotation ${a.id}: unknown category id ${a.category_id}`);
        if (withMasks) {
          const m = toRecordMask(a.segmentation, img.height, img.width);
          if (typeof m === 'string') {
            // An instance without a usable mask is unusable for mask training.
            this.dropped.push({ id: a.id, imageId: img.id, reason: m });
            continue;
          }
          r.masks!.push(m);
        }
        r.boxes!.push(...box);
        r.labels!.push(label);
        r.annotationIds!.push(a.id);
      }
      if (options.filterEmpty && r.labels!.length === 0) continue;
      r.index = this.records.length;
      this.records.push(r);
    }
    if (this.dropped.length > 0) {
      const shown = this.dropped.slice(0, 20).map((d) => `${d.id} (${d.reason})`);
      const more = this.dropped.length > shown.length ? `, and ${this.dropped.length - shown.length} more (CocoDataset.dropped lists all)` : '';
      const n = this.dropped.length;
      (options.onWarning ?? ((m: string) => console.warn(m)))(
        `${options.source ?? imageRoot}: ${n} annotation${n === 1 ? '' : 's'} without a usable mask dropped, by id: ${shown.join(', ')}${more}`,
      );
    }
  }

  /**
   * Reads and validates an instances JSON file with @partialnet/coco's streaming loader (errors name
   * the file and the offending entries); image paths are relative to imageRoot.
   */
  static async fromFile(annotationFile: string, imageRoot: string, options?: CocoDatasetOptions): Promise<CocoDataset> {
    return new CocoDataset(await loadInstances(annotationFile), imageRoot, { source: annotationFile, ...options });
  }

  get length(): number {
    return this.records.length;
  }

  record(index: number): SampleRecord {
    const r = this.records[index];
    if (!r) throw new RangeError(`CocoDataset: index ${index} out of range (${this.records.length})`);
    return r;
  }

  categoryIdToLabel(id: number): number {
    const l = this.idToLabel.get(id);
    if (l === undefined) throw new Error(`unknown category id ${id}`);
    return l;
  }

  labelToCategoryId(label: number): number {
    const id = this.categoryIds[label];
    if (id === undefined) throw new Error(`label ${label} out of range (${this.categoryIds.length} classes)`);
    return id;
  }
}

type AnnLike = CocoInstancesLike['annotations'][number];

function* annotationsOf(coco: CocoInstancesLike | CocoGroundTruth, withMasks: boolean): Generator<AnnLike> {
  if (!(coco instanceof CocoGroundTruth)) {
    yield* coco.annotations;
    return;
  }
  const a = coco.annotations;
  for (let i = 0; i < a.count; i++) {
    yield {
      id: a.id[i]!,
      image_id: a.imageId[i]!,
      category_id: a.categoryId[i]!,
      bbox: [a.bbox[i * 4]!, a.bbox[i * 4 + 1]!, a.bbox[i * 4 + 2]!, a.bbox[i * 4 + 3]!],
      iscrowd: a.iscrowd[i]!,
      segmentation: withMasks ? coco.segmentation(i) : undefined,
    };
  }
}

/** The record mask of a segmentation, or why there is none. */
function toRecordMask(seg: unknown, h: number, w: number): RecordMask | string {
  if (Array.isArray(seg)) {
    const polys = (seg as number[][]).filter((p) => Array.isArray(p) && p.length >= 6);
    return polys.length ? { polygons: polys } : 'no polygon with 3 or more points';
  }
  if (seg && typeof seg === 'object' && 'counts' in seg && 'size' in seg) {
    const r = seg as RleLike;
    if (r.size[0] !== h || r.size[1] !== w) return `RLE size ${r.size[1]}x${r.size[0]}, image ${w}x${h}`;
    return { rle: r };
  }
  return 'no segmentation';
}

// ---- semantic segmentation ------------------------------------------------------------------

const IMAGE_EXTS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.jpe', '.jfif', '.tif', '.tiff']);

export interface SemanticDatasetOptions {
  imageDir: string;
  labelDir: string;
  /** Class names, index = label id (after reduceZeroLabel); 255 is ignore. */
  classNames?: readonly string[];
  /** mmseg's reduce_zero_label (ADE20K): 0 is ignored and the other labels move down by one. */
  reduceZeroLabel?: boolean;
}

/** Pairs `imageDir/<name>.<ext>` with `labelDir/<name>.png` (one channel of class ids; 255 = ignore). */
export class SemanticDataset implements Dataset {
  private constructor(
    private readonly records: SampleRecord[],
    readonly classNames: readonly string[] | undefined,
  ) {}

  static async create(o: SemanticDatasetOptions): Promise<SemanticDataset> {
    for (const [what, d] of [['image', o.imageDir], ['label', o.labelDir]] as const) {
      if (!(await exists(d))) throw new Error(`SemanticDataset: ${what} folder ${d} not found`);
    }
    const imgs = (await readdir(o.imageDir)).filter((f) => IMAGE_EXTS.has(extname(f).toLowerCase())).sort();
    const labels = new Set(await readdir(o.labelDir));
    const records: SampleRecord[] = [];
    for (const f of imgs) {
      const stem = basename(f, extname(f));
      if (!labels.has(`${stem}.png`)) throw new Error(`no label map ${join(o.labelDir, stem + '.png')} for image ${join(o.imageDir, f)}`);
      records.push({
        index: records.length,
        imageId: records.length,
        file: resolve(o.imageDir, f),
        semanticFile: resolve(o.labelDir, `${stem}.png`),
        ...(o.reduceZeroLabel ? { reduceZeroLabel: true } : {}),
      });
    }
    return new SemanticDataset(records, o.classNames);
  }

  get length(): number {
    return this.records.length;
  }

  record(index: number): SampleRecord {
    const r = this.records[index];
    if (!r) throw new RangeError(`SemanticDataset: index ${index} out of range (${this.records.length})`);
    return r;
  }
}

// ---- image folders --------------------------------------------------------------------------

/** `root/<class>/*.jpg` for classification: classes sorted by name -> labels 0..K-1. */
export class ImageFolderDataset implements Dataset {
  private constructor(
    private readonly records: SampleRecord[],
    readonly classNames: readonly string[],
  ) {}

  static async create(root: string): Promise<ImageFolderDataset> {
    const entries = await readdir(root, { withFileTypes: true });
    const classes = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
    if (classes.length === 0) throw new Error(`image folder ${root}: no class sub-directories`);
    const records: SampleRecord[] = [];
    for (let label = 0; label < classes.length; label++) {
      const dir = join(root, classes[label]!);
      const files = (await readdir(dir)).filter((f) => IMAGE_EXTS.has(extname(f).toLowerCase())).sort();
      for (const f of files) {
        records.push({ index: records.length, imageId: records.length, file: resolve(dir, f), classLabel: label });
      }
    }
    return new ImageFolderDataset(records, classes);
  }

  get length(): number {
    return this.records.length;
  }

  record(index: number): SampleRecord {
    const r = this.records[index];
    if (!r) throw new RangeError(`ImageFolderDataset: index ${index} out of range (${this.records.length})`);
    return r;
  }
}

/** A Dataset over a fixed list of records (re-indexed). */
export class RecordDataset implements Dataset {
  private readonly records: SampleRecord[];
  constructor(records: readonly SampleRecord[]) {
    this.records = records.map((r, i) => ({ ...r, index: i }));
  }
  get length(): number {
    return this.records.length;
  }
  record(index: number): SampleRecord {
    const r = this.records[index];
    if (!r) throw new RangeError(`RecordDataset: index ${index} out of range`);
    return r;
  }
}

/** true when the path exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
