import { basename } from '#platform';
import { isRleObject, type RleObject } from '../mask/api.js';
import { rleFrPoly } from '../mask/polygon.js';
import { type Rle, RunStore, SUMMARY_LENGTH, decodeStringInto, rleArea, rleFrString, rleMerge, rleToBbox, rleToString, runsSummary } from '../mask/rle.js';
import type { CocoGroundTruth } from './dataset.js';
import { checkRleObject } from './dataset.js';
import { IssueList, show } from './errors.js';
import { GrowF64, GrowU8 } from './grow.js';
import { readJsonBuffer, readJsonFile, type JsonSink } from './json-stream.js';
import { type ParsedResult, Has, readResultsBuffer, readResultsFile } from './results-reader.js';
import type { CocoResult } from './types.js';
import { checkBox, checkPolygon, isObject } from './validate.js';

/**
 * Detections after pycocotools' loadRes, as columns. Like loadRes, the first entry decides where
 * areas come from: if it has a box, every area is w*h (also in segm evaluation) and entries without
 * a mask get the box as a polygon; otherwise areas (and missing boxes) come from the masks.
 * Ids are 1..n in file order.
 */
export interface CocoResults {
  readonly label: string;
  readonly count: number;
  readonly imageId: Float64Array;
  readonly categoryId: Float64Array;
  readonly score: Float64Array;
  /** [x, y, w, h] per result. */
  readonly bbox: Float64Array;
  readonly area: Float64Array;
  /** 'bbox' when results[0] has a box (areas from boxes), 'segm' otherwise. */
  readonly areaFrom: 'bbox' | 'segm';
  /**
   * Masks as given (RLE or polygons), undefined where a result has none; null when no result has
   * one. Built on first use, compressed masks encoded again from their runs (maskApi.c's encoding,
   * so the strings it wrote come back unchanged).
   */
  readonly segmentation: readonly (RleObject | number[][] | undefined)[] | null;
  /**
   * The runs of the compressed-RLE masks, decoded once while loading, end to end: result i's are
   * data[start[i], end[i]) (start -1: none), at its image's size (validated).
   */
  readonly compressed: CompressedMasks;
  /** 1 where `bbox` was computed from the mask (toBbox), so it equals the mask's box exactly. */
  readonly bboxFromMask: Uint8Array;
  /**
   * Masks already decoded into runs while computing areas (segm mode), by result index: polygons
   * and uncompressed RLEs (compressed masks' runs are in `compressed`).
   */
  readonly rles: readonly (Rle | undefined)[] | null;
  /** Non-fatal notes: empty list, unknown category ids (ignored, as pycocotools does). */
  readonly warnings: readonly string[];
}

export interface CompressedMasks {
  readonly data: Uint32Array;
  readonly start: Float64Array;
  readonly end: Float64Array;
  /** plainArea of each mask, measured while loading (rleIou's shortcut); NaN where a result has none. */
  readonly plainArea: Float64Array;
}

export interface ResultsLoadOptions {
  label?: string;
  chunkBytes?: number;
}

class ResultsBuilder {
  readonly issues: IssueList;
  private mode: 'bbox' | 'segm' | null = null;
  private imageId = new GrowF64();
  private categoryId = new GrowF64();
  private score = new GrowF64();
  private bbox = new GrowF64(4096);
  private area = new GrowF64();
  private bboxFromMask = new GrowU8();
  /** Masks other than compressed RLEs, as given. */
  private segm: (RleObject | number[][] | undefined)[] = [];
  /** Runs of the compressed masks (results-reader decodes into it directly). */
  readonly runs = new RunStore();
  private runsStart = new GrowF64();
  private runsEnd = new GrowF64();
  private plainArea = new GrowF64();
  private rles: (Rle | undefined)[] = [];
  private anySegm = false;
  private unknownImages = new Map<number, number>();
  private unknownCats = new Map<number, number>();
  private sawTopLevel = false;
  /** The summary (rleStringSummary) of the current result's compressed mask. */
  private readonly summary = new Float64Array(SUMMARY_LENGTH);

  constructor(
    readonly gt: CocoGroundTruth,
    readonly label: string,
  ) {
    this.issues = new IssueList(label);
  }

  topLevel(v: unknown): void {
    this.sawTopLevel = true;
    if (!Array.isArray(v)) {
      this.issues.add('top level', `expected an array of results, got ${show(v, 40)}`);
      return;
    }
    this.elements(v, 0);
  }

  elements(items: readonly unknown[], first: number): void {
    this.sawTopLevel = true;
    for (let j = 0; j < items.length; j++) this.add(items[j], first + j);
  }

  private add(v: unknown, i: number): void {
    const where = `results[${i}]`;
    if (!isObject(v)) return this.issues.add(where, `expected an object, got ${show(v)}`);
    const before = this.issues.count;
    const bad = (field: string, msg: string): void => this.issues.add(`${where}.${field}`, msg);
    const imageId = v.image_id;
    const im = typeof imageId === 'number' ? this.gt.image(imageId) : undefined;
    if (typeof imageId !== 'number' || !Number.isFinite(imageId)) bad('image_id', `expected a finite number, got ${show(imageId)}`);
    else if (!im && !this.unknownImages.has(imageId)) this.unknownImages.set(imageId, i);
    const cat = v.category_id;
    if (typeof cat !== 'number' || !Number.isFinite(cat)) bad('category_id', `expected a finite number, got ${show(cat)}`);
    else if (!this.gt.categoryIndex.has(cat)) this.unknownCats.set(cat, (this.unknownCats.get(cat) ?? 0) + 1);
    const score = v.score;
    if (typeof score !== 'number' || !Number.isFinite(score) || score < 0) bad('score', `expected a finite number >= 0, got ${show(score)}`);

    if (this.mode === null) {
      if (Array.isArray(v.bbox) && v.bbox.length > 0) this.mode = 'bbox';
      else if (v.segmentation !== undefined) this.mode = 'segm';
      else return bad('bbox', `expected a box [x, y, w, h] or a segmentation, got neither`);
    }
    const hasBox = v.bbox !== undefined;
    if (hasBox) {
      const m = checkBox(v.bbox);
      if (m) bad('bbox', m);
    } else if (this.mode === 'bbox') {
      bad('bbox', `missing (results[0] has a box, so every result needs one, as in pycocotools)`);
    }
    const seg = v.segmentation;
    let summarized = false;
    if (seg !== undefined) {
      if (isRleObject(seg)) {
        // a compressed mask: checked, measured and boxed here, its runs kept for evaluation
        const m = checkRleObject(seg as unknown as Record<string, unknown>, this.summary);
        summarized = typeof seg.counts === 'string';
        if (m) bad(`segmentation${m.field}`, m.message);
        else if (im && (seg.size[0] !== im.height || seg.size[1] !== im.width)) {
          bad('segmentation.size', `${show(seg.size)} disagrees with image ${im.id} (height ${im.height}, width ${im.width})`);
        }
      } else if (Array.isArray(seg)) {
        if (seg.length === 0) bad('segmentation', 'expected at least one polygon, got []');
        seg.forEach((p, j) => {
          const m = checkPolygon(p);
          if (m) bad(`segmentation[${j}]`, m);
        });
      } else bad('segmentation', `expected an RLE {size, counts} or polygons, got ${show(seg)}`);
    } else if (this.mode === 'segm') {
      bad('segmentation', `missing (results[0] has a mask and no box, so every result needs a mask)`);
    }
    if (this.issues.count !== before || !im) return;

    const idx = this.score.length;
    this.imageId.push(imageId as number);
    this.categoryId.push(cat as number);
    this.score.push(score as number);
    if (seg !== undefined) this.anySegm = true;
    if (summarized) {
      const at = this.runs.length;
      decodeStringInto(this.runs, (seg as RleObject).counts as string);
      this.runsStart.push(at);
      this.runsEnd.push(this.runs.length);
      this.plainArea.push(this.summary[6]!);
    } else {
      if (seg !== undefined) this.segm[idx] = seg as RleObject | number[][];
      this.runsStart.push(-1);
      this.runsEnd.push(-1);
      this.plainArea.push(NaN);
    }
    let box: ArrayLike<number> | null = hasBox ? (v.bbox as number[]) : null;
    if (this.mode === 'bbox') {
      this.area.push(box![2]! * box![3]!);
    } else if (summarized) {
      this.area.push(this.summary[4]!);
      box ??= this.summary;
    } else {
      const rle = toRunsForImage(seg as RleObject | number[][], im.height, im.width);
      this.rles[idx] = rle;
      this.area.push(rleArea(rle));
      if (!box) box = rleToBbox(rle, [0, 0, 0, 0]) as number[];
    }
    this.bboxFromMask.push(hasBox ? 0 : 1);
    for (let k = 0; k < 4; k++) this.bbox.push(box![k]!);
  }

  /**
   * A result read by results-reader (its compressed mask's runs already in `runs`, from runsAt on).
   * Adds it and returns true when it passes every check add() makes and needs none of add()'s
   * notes (unknown image or category); otherwise adds nothing and returns false, and the caller
   * hands the element to add() for the report.
   */
  addParsed(r: ParsedResult, runsAt: number): boolean {
    this.sawTopLevel = true;
    const has = r.has;
    if ((has & (Has.ImageId | Has.CategoryId | Has.Score)) !== (Has.ImageId | Has.CategoryId | Has.Score)) return false;
    const im = this.gt.image(r.imageId);
    if (!im || !this.gt.categoryIndex.has(r.categoryId) || !(r.score >= 0)) return false;
    const hasBox = (has & Has.Bbox) !== 0;
    const hasSeg = (has & Has.Counts) !== 0;
    // the reader only takes four finite numbers as a box: add() would set the mode from it
    const mode = this.mode ?? (hasBox ? 'bbox' : hasSeg ? 'segm' : null);
    if (mode === null) return false;
    const b = r.bbox;
    if (hasBox ? b[2]! < 0 || b[3]! < 0 : mode === 'bbox') return false;
    if (hasSeg) {
      const h = r.h;
      const w = r.w;
      if (!Number.isInteger(h) || h < 0 || !Number.isInteger(w) || w < 0) return false;
      if (r.summarized) this.summary.set(r.summary);
      else runsSummary(this.runs.data, runsAt, this.runs.length - runsAt, h, w, this.summary);
      if (this.summary[5] !== h * w || h !== im.height || w !== im.width) return false;
    } else if (mode === 'segm') return false;
    this.mode = mode;
    this.imageId.push(r.imageId);
    this.categoryId.push(r.categoryId);
    this.score.push(r.score);
    if (hasSeg) {
      this.anySegm = true;
      this.runsStart.push(runsAt);
      this.runsEnd.push(this.runs.length);
      this.plainArea.push(this.summary[6]!);
      this.area.push(mode === 'bbox' ? b[2]! * b[3]! : this.summary[4]!);
    } else {
      this.runsStart.push(-1);
      this.runsEnd.push(-1);
      this.plainArea.push(NaN);
      this.area.push(b[2]! * b[3]!);
    }
    const box = hasBox ? b : this.summary;
    this.bboxFromMask.push(hasBox ? 0 : 1);
    for (let k = 0; k < 4; k++) this.bbox.push(box[k]!);
    return true;
  }

  finish(): CocoResults {
    if (!this.sawTopLevel) this.issues.add('top level', 'expected an array of results');
    if (this.unknownImages.size > 0) {
      const ids = [...this.unknownImages.keys()];
      const firstAt = Math.min(...this.unknownImages.values());
      this.issues.add(
        'image_id',
        `${ids.length} image id${ids.length > 1 ? 's are' : ' is'} not in the ground truth (${this.gt.label}): ` +
          `${ids.slice(0, 20).join(', ')}${ids.length > 20 ? ', ...' : ''} (first at results[${firstAt}])`,
      );
    }
    this.issues.throwIfAny();
    const warnings: string[] = [];
    const count = this.score.length;
    if (count === 0) {
      warnings.push(
        `${this.label}: the result list is empty: AP and AR are 0 wherever there is ground truth (-1 where there is none)`,
      );
    }
    if (this.unknownCats.size > 0) {
      const parts = [...this.unknownCats].map(([id, n]) => `${id} (${n})`);
      warnings.push(`${this.label}: results with category ids not in the ground truth are ignored, as pycocotools does: ${parts.slice(0, 20).join(', ')}`);
    }
    const imageId = this.imageId.finish();
    const compressed: CompressedMasks = { data: this.runs.finish(), start: this.runsStart.finish(), end: this.runsEnd.finish(), plainArea: this.plainArea.finish() };
    const given = this.segm;
    const gt = this.gt;
    let segmentation: (RleObject | number[][] | undefined)[] | null | undefined = this.anySegm ? undefined : null;
    return {
      label: this.label,
      count,
      imageId,
      categoryId: this.categoryId.finish(),
      score: this.score.finish(),
      bbox: this.bbox.finish(),
      area: this.area.finish(),
      bboxFromMask: this.bboxFromMask.finish(),
      areaFrom: this.mode ?? 'bbox',
      get segmentation() {
        if (segmentation === undefined) {
          segmentation = [];
          for (let i = 0; i < count; i++) {
            const s = compressed.start[i]!;
            if (s < 0) segmentation[i] = given[i];
            else {
              const im = gt.image(imageId[i]!)!;
              const cnts = compressed.data.subarray(s, compressed.end[i]!);
              segmentation[i] = { size: [im.height, im.width], counts: rleToString({ h: im.height, w: im.width, cnts }) };
            }
          }
        }
        return segmentation;
      },
      compressed,
      rles: this.mode === 'segm' ? this.rles : null,
      warnings,
    };
  }
}

/** A result's compressed mask as runs (a view into `compressed`), or undefined when it has none. */
export function compressedRuns(r: CocoResults, i: number, h: number, w: number): Rle | undefined {
  const s = r.compressed.start[i]!;
  return s < 0 ? undefined : { h, w, cnts: r.compressed.data.subarray(s, r.compressed.end[i]!) };
}

/** A mask as runs at the image's size: compressed or uncompressed RLE, or polygons merged into one. */
export function toRunsForImage(seg: RleObject | number[][], h: number, w: number): Rle {
  if (Array.isArray(seg)) {
    const parts = seg.map((p) => rleFrPoly(p, p.length >> 1, h, w));
    return rleMerge(parts, false);
  }
  const [sh, sw] = seg.size;
  if (typeof seg.counts === 'string') return rleFrString(seg.counts, sh, sw);
  return { h: sh, w: sw, cnts: Uint32Array.from(seg.counts) };
}

function sink(b: ResultsBuilder): JsonSink {
  return {
    streamed: () => false,
    elements: (_key, items, first) => b.elements(items, first),
    value: (key) => b.issues.add('top level', `expected an array of results, got an object (key "${key}")`),
  };
}

/**
 * pycocotools' loadRes with validation: unknown image ids, bad scores, boxes with negative size,
 * polygons with fewer than 3 points and RLEs whose size disagrees with the image are reported
 * together with their index. NaN / Infinity written by Python's json module are reported as such.
 */
export async function loadResults(
  gt: CocoGroundTruth,
  source: string | readonly CocoResult[] | readonly unknown[] | Buffer,
  opts: ResultsLoadOptions = {},
): Promise<CocoResults> {
  if (typeof source === 'string') {
    const label = opts.label ?? basename(source);
    const fast = new ResultsBuilder(gt, label);
    if (await readResultsFile(source, fast, label, opts.chunkBytes)) return fast.finish();
    // the fast reader gave up on the document: the streaming reader reads it again and reports
    const b = new ResultsBuilder(gt, label);
    await readJsonFile(source, sink(b), { label, allowNonFinite: true, ...(opts.chunkBytes ? { chunkBytes: opts.chunkBytes } : {}) });
    return b.finish();
  }
  return resultsFrom(gt, source, opts.label);
}

/** The same for results in memory: an array of objects, or JSON bytes. */
export function resultsFrom(gt: CocoGroundTruth, source: readonly unknown[] | Buffer, label = 'results'): CocoResults {
  if (Buffer.isBuffer(source)) {
    const fast = new ResultsBuilder(gt, label);
    if (readResultsBuffer(source, fast, label)) return fast.finish();
  }
  const b = new ResultsBuilder(gt, label);
  if (Buffer.isBuffer(source)) readJsonBuffer(source, sink(b), { label, allowNonFinite: true });
  else b.topLevel(source);
  return b.finish();
}
