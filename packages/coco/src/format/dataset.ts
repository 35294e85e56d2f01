import type { RleObject } from '../mask/api.js';
import { rleStringSummary, SUMMARY_LENGTH } from '../mask/rle.js';
import { IssueList, show } from './errors.js';
import { GrowF64, GrowI32, GrowU8 } from './grow.js';
import { PolygonStore } from './polygons.js';
import type { CocoAnnotation, CocoCategory, CocoDataset, CocoImage, Segmentation } from './types.js';
import { checkBox, checkFinite, checkNonNegative, checkPolygon, checkPositiveInt, isObject } from './validate.js';

/** How an annotation's segmentation is stored. */
export const enum SegKind {
  None = 0,
  Polygons = 1,
  RleUncompressed = 2,
  RleCompressed = 3,
}

const KNOWN_ANN_KEYS = new Set(['id', 'image_id', 'category_id', 'bbox', 'area', 'iscrowd', 'segmentation']);

/**
 * Annotations as columns (struct of arrays): a file of 860k polygon annotations costs a few
 * hundred MB this way instead of several GB of small JS objects.
 */
export interface AnnotationColumns {
  readonly count: number;
  readonly id: Float64Array;
  readonly imageId: Float64Array;
  readonly categoryId: Float64Array;
  readonly area: Float64Array;
  /** [x, y, w, h] per annotation, 4 values each. */
  readonly bbox: Float64Array;
  readonly iscrowd: Uint8Array;
  readonly segKind: Uint8Array;
  /** Polygons: first polygon index in `polygons`; RLE: index in `rles`. */
  readonly segRef: Int32Array;
  /** Polygons per annotation (0 unless segKind is Polygons). */
  readonly segCount: Int32Array;
  readonly polygons: PolygonStore;
  readonly rles: readonly RleObject[];
  /** Fields other than the standard ones, only for annotations that have some. */
  readonly extras: ReadonlyMap<number, Record<string, unknown>>;
}

/** A validated ground-truth dataset (pycocotools' COCO object). */
export class CocoGroundTruth {
  readonly imageIndex = new Map<number, number>();
  readonly categoryIndex = new Map<number, number>();

  constructor(
    readonly label: string,
    readonly images: readonly CocoImage[],
    readonly categories: readonly CocoCategory[],
    readonly annotations: AnnotationColumns,
    readonly other: Readonly<Record<string, unknown>> = {},
  ) {
    images.forEach((im, i) => this.imageIndex.set(im.id, i));
    categories.forEach((c, i) => this.categoryIndex.set(c.id, i));
  }

  /** Image ids, sorted. */
  getImgIds(): number[] {
    return this.images.map((im) => im.id).sort((a, b) => a - b);
  }

  /** Category ids, sorted. */
  getCatIds(): number[] {
    return this.categories.map((c) => c.id).sort((a, b) => a - b);
  }

  image(id: number): CocoImage | undefined {
    const i = this.imageIndex.get(id);
    return i === undefined ? undefined : this.images[i];
  }

  category(id: number): CocoCategory | undefined {
    const i = this.categoryIndex.get(id);
    return i === undefined ? undefined : this.categories[i];
  }

  /** Annotation i (file order) as a plain object. */
  annotation(i: number): CocoAnnotation {
    const a = this.annotations;
    const out: CocoAnnotation = {
      id: a.id[i]!,
      image_id: a.imageId[i]!,
      category_id: a.categoryId[i]!,
      bbox: [a.bbox[i * 4]!, a.bbox[i * 4 + 1]!, a.bbox[i * 4 + 2]!, a.bbox[i * 4 + 3]!],
      area: a.area[i]!,
      iscrowd: a.iscrowd[i] ? 1 : 0,
    };
    const seg = this.segmentation(i);
    if (seg !== undefined) out.segmentation = seg;
    const extra = a.extras.get(i);
    if (extra) Object.assign(out, extra);
    return out;
  }

  segmentation(i: number): Segmentation | undefined {
    const a = this.annotations;
    switch (a.segKind[i]) {
      case SegKind.Polygons: {
        const polys: number[][] = [];
        for (let p = a.segRef[i]!, e = p + a.segCount[i]!; p < e; p++) polys.push(Array.from(a.polygons.coords(p)));
        return polys;
      }
      case SegKind.RleCompressed:
      case SegKind.RleUncompressed:
        return a.rles[a.segRef[i]!];
      default:
        return undefined;
    }
  }

  /** Back to the JSON shape (materializes every annotation: meant for small datasets). */
  toDataset(): CocoDataset {
    const annotations: CocoAnnotation[] = [];
    for (let i = 0; i < this.annotations.count; i++) annotations.push(this.annotation(i));
    return { ...this.other, images: [...this.images], annotations, categories: [...this.categories] };
  }
}

/** Validates elements as they arrive (whole objects or streamed batches) and fills the columns. */
export class GroundTruthBuilder {
  readonly issues: IssueList;
  private images: CocoImage[] = [];
  private categories: CocoCategory[] = [];
  private other: Record<string, unknown> = {};
  private seen = { images: false, annotations: false, categories: false };
  private id = new GrowF64();
  private imageId = new GrowF64();
  private categoryId = new GrowF64();
  private area = new GrowF64();
  private bbox = new GrowF64(4096);
  private iscrowd = new GrowU8();
  private segKind = new GrowU8();
  private segRef = new GrowI32();
  private segCount = new GrowI32();
  private polygons = new PolygonStore();
  private rles: RleObject[] = [];
  private rleWhere: number[] = [];
  private extras = new Map<number, Record<string, unknown>>();
  /** File index of each stored annotation, for messages after validation. */
  private fileIndex = new GrowI32();

  constructor(readonly label: string) {
    this.issues = new IssueList(label);
  }

  /** The top-level keys whose arrays are streamed. */
  static readonly STREAMED = new Set(['images', 'annotations', 'categories']);

  value(key: string, v: unknown): void {
    if (GroundTruthBuilder.STREAMED.has(key)) {
      if (!Array.isArray(v)) {
        this.issues.add(key, `expected an array, got ${show(v)}`);
        this.seen[key as keyof typeof this.seen] = true;
        return;
      }
      this.elements(key, v, 0);
    } else {
      this.other[key] = v;
    }
  }

  elements(key: string, items: readonly unknown[], first: number): void {
    if (key === 'images') {
      this.seen.images = true;
      for (let j = 0; j < items.length; j++) this.addImage(items[j], first + j);
    } else if (key === 'annotations') {
      this.seen.annotations = true;
      for (let j = 0; j < items.length; j++) this.addAnnotation(items[j], first + j);
    } else if (key === 'categories') {
      this.seen.categories = true;
      for (let j = 0; j < items.length; j++) this.addCategory(items[j], first + j);
    }
  }

  private addImage(v: unknown, i: number): void {
    const where = `images[${i}]`;
    if (!isObject(v)) return this.issues.add(where, `expected an object, got ${show(v)}`);
    let ok = true;
    const check = (field: string, msg: string | null): void => {
      if (msg) {
        ok = false;
        this.issues.add(`${where}.${field}`, msg);
      }
    };
    check('id', checkFinite(v.id));
    check('width', checkPositiveInt(v.width));
    check('height', checkPositiveInt(v.height));
    if (ok) this.images.push(v as CocoImage);
  }

  private addCategory(v: unknown, i: number): void {
    const where = `categories[${i}]`;
    if (!isObject(v)) return this.issues.add(where, `expected an object, got ${show(v)}`);
    const m = checkFinite(v.id);
    if (m) return this.issues.add(`${where}.id`, m);
    if (typeof v.name !== 'string') return this.issues.add(`${where}.name`, `expected a string, got ${show(v.name)}`);
    this.categories.push(v as CocoCategory);
  }

  private addAnnotation(v: unknown, i: number): void {
    const where = `annotations[${i}]`;
    if (!isObject(v)) return this.issues.add(where, `expected an object, got ${show(v)}`);
    const before = this.issues.count;
    const check = (field: string, msg: string | null): void => {
      if (msg) this.issues.add(`${where}.${field}`, msg);
    };
    check('id', checkFinite(v.id));
    check('image_id', checkFinite(v.image_id));
    check('category_id', checkFinite(v.category_id));
    check('bbox', checkBox(v.bbox));
    check('area', checkNonNegative(v.area));
    const crowd = v.iscrowd;
    if (!(crowd === undefined || crowd === 0 || crowd === 1 || crowd === true || crowd === false)) {
      check('iscrowd', `expected 0 or 1, got ${show(crowd)}`);
    }
    const seg = v.segmentation;
    let kind = SegKind.None;
    if (seg === undefined || seg === null) kind = SegKind.None;
    else if (Array.isArray(seg)) {
      if (seg.length === 0) check('segmentation', 'expected at least one polygon, got []');
      seg.forEach((p, j) => check(`segmentation[${j}]`, checkPolygon(p)));
      kind = SegKind.Polygons;
    } else if (isObject(seg)) {
      const m = checkRleObject(seg);
      if (m) check(`segmentation${m.field}`, m.message);
      kind = typeof seg.counts === 'string' ? SegKind.RleCompressed : SegKind.RleUncompressed;
    } else check('segmentation', `expected polygons or an RLE {size, counts}, got ${show(seg)}`);
    if (this.issues.count !== before) return;

    const n = this.id.length;
    this.id.push(v.id as number);
    this.imageId.push(v.image_id as number);
    this.categoryId.push(v.category_id as number);
    this.area.push(v.area as number);
    const bb = v.bbox as number[];
    this.bbox.push(bb[0]!);
    this.bbox.push(bb[1]!);
    this.bbox.push(bb[2]!);
    this.bbox.push(bb[3]!);
    this.iscrowd.push(crowd ? 1 : 0);
    this.segKind.push(kind);
    this.fileIndex.push(i);
    if (kind === SegKind.Polygons) {
      const polys = seg as number[][];
      let firstPoly = -1;
      for (const p of polys) {
        const idx = this.polygons.add(p);
        if (firstPoly < 0) firstPoly = idx;
      }
      this.segRef.push(firstPoly);
      this.segCount.push(polys.length);
    } else if (kind === SegKind.RleCompressed || kind === SegKind.RleUncompressed) {
      this.segRef.push(this.rles.length);
      this.segCount.push(0);
      this.rles.push(seg as RleObject);
      this.rleWhere.push(n);
    } else {
      this.segRef.push(-1);
      this.segCount.push(0);
    }
    let extra: Record<string, unknown> | undefined;
    for (const k in v) {
      if (!KNOWN_ANN_KEYS.has(k)) (extra ??= {})[k] = v[k];
    }
    if (extra) this.extras.set(n, extra);
  }

  /** Cross-checks (duplicates, dangling references, RLE sizes) and builds the dataset. */
  finish(): CocoGroundTruth {
    const issues = this.issues;
    for (const key of ['images', 'annotations', 'categories'] as const) {
      if (!this.seen[key]) issues.add(key, 'missing (an instances file needs images, annotations and categories)');
    }
    const imageIdx = duplicates(this.images.map((im) => im.id), 'images', issues);
    const catIdx = duplicates(this.categories.map((c) => c.id), 'categories', issues);
    const id = this.id.finish();
    const fileIndex = this.fileIndex.finish();
    // duplicate annotation ids: sort a copy instead of a Map of 860k entries
    const sorted = id.slice().sort();
    for (let j = 1; j < sorted.length; j++) {
      if (sorted[j] === sorted[j - 1]) {
        const dup = sorted[j]!;
        const where: number[] = [];
        for (let k = 0; k < id.length && where.length < 3; k++) if (id[k] === dup) where.push(fileIndex[k]!);
        issues.add(`annotations[${where[1]}].id`, `duplicate id ${dup} (also annotations[${where[0]}])`);
        while (j + 1 < sorted.length && sorted[j + 1] === dup) j++;
      }
    }
    const imageId = this.imageId.finish();
    const categoryId = this.categoryId.finish();
    for (let k = 0; k < id.length; k++) {
      if (!imageIdx.has(imageId[k]!)) issues.add(`annotations[${fileIndex[k]}].image_id`, `no image with id ${imageId[k]}`);
      if (!catIdx.has(categoryId[k]!)) issues.add(`annotations[${fileIndex[k]}].category_id`, `no category with id ${categoryId[k]}`);
    }
    for (let r = 0; r < this.rles.length; r++) {
      const k = this.rleWhere[r]!;
      const im = this.images[imageIdx.get(imageId[k]!) ?? -1];
      const size = this.rles[r]!.size;
      if (im && (size[0] !== im.height || size[1] !== im.width)) {
        issues.add(
          `annotations[${fileIndex[k]}].segmentation.size`,
          `${show(size)} disagrees with image ${im.id} (height ${im.height}, width ${im.width})`,
        );
      }
    }
    issues.throwIfAny();
    const columns: AnnotationColumns = {
      count: id.length,
      id,
      imageId,
      categoryId,
      area: this.area.finish(),
      bbox: this.bbox.finish(),
      iscrowd: this.iscrowd.finish(),
      segKind: this.segKind.finish(),
      segRef: this.segRef.finish(),
      segCount: this.segCount.finish(),
      polygons: this.polygons,
      rles: this.rles,
      extras: this.extras,
    };
    return new CocoGroundTruth(this.label, this.images, this.categories, columns, this.other);
  }
}

function duplicates(ids: number[], key: string, issues: IssueList): Map<number, number> {
  const index = new Map<number, number>();
  ids.forEach((id, i) => {
    const prev = index.get(id);
    if (prev !== undefined) issues.add(`${key}[${i}].id`, `duplicate id ${id} (also ${key}[${prev}])`);
    else index.set(id, i);
  });
  return index;
}

/**
 * Checks an RLE object's shape and that its runs cover exactly h*w pixels. For a compressed string,
 * `summary` (when given, SUMMARY_LENGTH entries) receives rleStringSummary's summary.
 */
export function checkRleObject(seg: Record<string, unknown>, summary?: Float64Array): { field: string; message: string } | null {
  const size = seg.size;
  if (!Array.isArray(size) || size.length !== 2 || !isCount(size[0]) || !isCount(size[1])) {
    return { field: '.size', message: `expected [height, width] as two integers >= 0, got ${show(size)}` };
  }
  const h = size[0] as number;
  const w = size[1] as number;
  const counts = seg.counts;
  let total = 0;
  if (typeof counts === 'string') {
    const out = summary ?? scratchSummary;
    try {
      rleStringSummary(counts, h, w, out);
    } catch (e) {
      return { field: '.counts', message: (e as Error).message };
    }
    total = out[5]!;
  } else if (Array.isArray(counts)) {
    for (let i = 0; i < counts.length; i++) {
      const c = counts[i];
      if (!isCount(c)) return { field: `.counts[${i}]`, message: `expected an integer >= 0, got ${show(c)}` };
      total += c as number;
    }
  } else {
    return { field: '.counts', message: `expected a compressed string or an array of run lengths, got ${show(counts)}` };
  }
  if (total !== h * w) return { field: '.counts', message: `runs cover ${total} pixels, expected height*width = ${h * w}` };
  return null;
}

const scratchSummary = new Float64Array(SUMMARY_LENGTH);

function isCount(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}
