import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { CompressedRle, IouType } from '@partialnet/coco';
import { detectionMasksToRle, type Detections } from '@partialnet/detection';

// COCO's IouType ('bbox' | 'segm'), re-exported for the pipeline's users.
export type { IouType };

/** One entry of a COCO results file. */
export interface CocoResultEntry {
  image_id: number;
  category_id: number;
  /** [x, y, w, h]. */
  bbox: [number, number, number, number];
  score: number;
  segmentation?: CompressedRle;
}

/** Four decimals are far below a pixel and keep the files small. */
const round = (v: number, digits = 4): number => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

/**
 * COCO results entries of one image's detections: boxes as [x, y, w, h], contiguous labels mapped
 * back to category ids, and (for `segm`) masks as compressed RLE. Like mmdet's segm results, segm
 * entries keep their box, so pycocotools' loadRes takes areas from boxes in both files.
 */
export function detectionsToCoco(dets: Detections, imageId: number, labelToCategoryId: readonly number[], iouType: IouType): CocoResultEntry[] {
  const n = dets.scores.length;
  if (iouType === 'segm' && (!dets.masks || !dets.maskShape)) throw new Error(`image ${imageId}: segm results need masks, and these detections have none`);
  const rles = iouType === 'segm' ? detectionMasksToRle(dets) : [];
  const out: CocoResultEntry[] = [];
  for (let i = 0; i < n; i++) {
    const label = dets.labels[i]!;
    const categoryId = labelToCategoryId[label];
    if (categoryId === undefined) throw new Error(`image ${imageId}: detection ${i} has label ${label}, but there are only ${labelToCategoryId.length} categories`);
    const [x1, y1, x2, y2] = [dets.boxes[4 * i]!, dets.boxes[4 * i + 1]!, dets.boxes[4 * i + 2]!, dets.boxes[4 * i + 3]!];
    const entry: CocoResultEntry = { image_id: imageId, category_id: categoryId, bbox: [round(x1), round(y1), round(x2 - x1), round(y2 - y1)], score: round(dets.scores[i]!, 5) };
    if (iouType === 'segm') entry.segmentation = rles[i]!;
    out.push(entry);
  }
  return out;
}

let writerCount = 0;

export interface JsonArrayWriterOptions {
  /** Text before the array's first entry (default `[`): e.g. `{"annotations":[` for an object. */
  prefix?: string;
  /** Text after the last entry, asked for at `close()` (default `]`). */
  suffix?: () => string;
}

/**
 * Writes a JSON array one entry at a time, so results of a large val set never sit in memory as one
 * string. Entries go to a temporary file beside `path`; `close()` finishes the array and renames it
 * to `path`, so `path` only ever holds a complete file (the previous one until then). `abort()`
 * deletes the temporary file and leaves `path` as it was.
 */
export class JsonArrayWriter<T = CocoResultEntry> {
  readonly tmpPath: string;
  readonly #out: WriteStream;
  #count = 0;
  #error: Error | undefined;

  readonly #suffix: () => string;

  constructor(
    readonly path: string,
    options: JsonArrayWriterOptions = {},
  ) {
    // Unique per writer, so two evaluators of one process (shards) never share a temporary file.
    this.tmpPath = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${++writerCount}`);
    this.#suffix = options.suffix ?? (() => ']');
    this.#out = createWriteStream(this.tmpPath);
    this.#out.on('error', (err) => (this.#error = err));
    this.#out.write(options.prefix ?? '[');
  }

  get count(): number {
    return this.#count;
  }

  async write(entries: readonly T[]): Promise<void> {
    if (this.#error) throw new Error(`${this.path}: ${this.#error.message}`);
    if (entries.length === 0) return;
    const text = entries.map((e, i) => `${this.#count + i === 0 ? '\n' : ',\n'}${JSON.stringify(e)}`).join('');
    this.#count += entries.length;
    if (!this.#out.write(text)) await once(this.#out, 'drain');
  }

  /** Completes the file and moves it to `path` (or to `target`). */
  async close(target = this.path): Promise<void> {
    this.#out.end(`${this.#count === 0 ? '' : '\n'}${this.#suffix()}\n`);
    if (!this.#out.closed) await once(this.#out, 'close');
    if (this.#error) throw new Error(`${this.path}: ${this.#error.message}`);
    await rename(this.tmpPath, target);
  }

  /** Drops what was written; `path` keeps its previous content. */
  async abort(): Promise<void> {
    if (!this.#out.closed) {
      // wait for 'close' only: events.once would reject on the 'error' that destroying a stream
      // with a write still pending emits, and that error would replace the caller's own (the
      // reason the evaluation is being aborted); the 'error' listener above records it
      const closed = new Promise<void>((resolve) => this.#out.once('close', () => resolve()));
      this.#out.destroy();
      await closed;
    }
    await rm(this.tmpPath, { force: true });
  }
}

/** The COCO results file writer (a JSON array of `CocoResultEntry`). */
export class ResultsWriter extends JsonArrayWriter<CocoResultEntry> {}
