import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
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

/**
 * Writes a JSON array one entry at a time, so results of a large val set never sit in memory as one
 * string. `close()` finishes the array and resolves once the file is complete.
 */
export class ResultsWriter {
  readonly #out: WriteStream;
  #count = 0;
  #error: Error | undefined;

  constructor(readonly path: string) {
    this.#out = createWriteStream(path);
    this.#out.on('error', (err) => (this.#error = err));
    this.#out.write('[');
  }

  get count(): number {
    return this.#count;
  }

  async write(entries: readonly CocoResultEntry[]): Promise<void> {
    if (this.#error) throw new Error(`${this.path}: ${this.#error.message}`);
    if (entries.length === 0) return;
    const text = entries.map((e, i) => `${this.#count + i === 0 ? '\n' : ',\n'}${JSON.stringify(e)}`).join('');
    this.#count += entries.length;
    if (!this.#out.write(text)) await once(this.#out, 'drain');
  }

  async close(): Promise<void> {
    this.#out.end(this.#count === 0 ? ']\n' : '\n]\n');
    if (!this.#out.closed) await once(this.#out, 'close');
    if (this.#error) throw new Error(`${this.path}: ${this.#error.message}`);
  }
}
