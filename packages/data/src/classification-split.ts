/** One split of an ImageNet-style folder (`root/<class>/*`) as labelled, decoded images. */
import { ImageFolderDataset } from './datasets.js';
import { decodeImage } from './decode.js';
import type { RgbImage } from './types.js';

/** What classification batches are assembled from: labelled images by index. */
export interface ClassificationSource {
  readonly length: number;
  readonly classNames: readonly string[];
  label(index: number): number;
  image(index: number): Promise<RgbImage>;
}

/** Below this many images a split is kept decoded in memory by default (small sets, many epochs). */
const AUTO_CACHE_MAX_IMAGES = 20000;

/** An image-folder split with decoded images optionally kept in memory. */
export class ClassificationSplit implements ClassificationSource {
  readonly #cache = new Map<number, RgbImage>();
  private constructor(
    readonly dataset: ImageFolderDataset,
    readonly cache: boolean,
  ) {}

  /** `cache: 'auto'` caches splits of at most 20000 images. Throws on a split without images. */
  static async open(root: string, cache: boolean | 'auto' = 'auto'): Promise<ClassificationSplit> {
    const dataset = await ImageFolderDataset.create(root);
    if (dataset.length === 0) throw new Error(`${root}: no images in its class folders`);
    return new ClassificationSplit(dataset, cache === 'auto' ? dataset.length <= AUTO_CACHE_MAX_IMAGES : cache);
  }

  get length(): number {
    return this.dataset.length;
  }

  get classNames(): readonly string[] {
    return this.dataset.classNames;
  }

  label(index: number): number {
    return this.dataset.record(index).classLabel!;
  }

  async image(index: number): Promise<RgbImage> {
    const hit = this.#cache.get(index);
    if (hit) return hit;
    const r = this.dataset.record(index);
    const img = await decodeImage(r.file, { file: r.file, imageId: r.imageId });
    if (this.cache) this.#cache.set(index, img);
    return img;
  }
}
