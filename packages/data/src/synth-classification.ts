/**
 * A synthetic ImageNet-style classification set from the shapes renderer: one shape per image,
 * labelled by its category, written as root/{train,val}/<category>/NNNN.png. Balanced (exactly the
 * requested count per class and split) and deterministic in the seed.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeImage } from './decode.js';
import { deriveSeed, Rng } from '@partialnet/core/random';
import { renderShapesImage, SHAPE_CATEGORIES } from './synth.js';

export interface ShapesClassificationOptions {
  /** Training images per class. */
  perClass: number;
  /** Validation images per class (0: an empty val split). */
  valPerClass: number;
  /** Side of the square images in pixels (at least 16). */
  size: number;
  seed: number;
}

export interface ShapesClassificationSummary {
  /** The class folders, sorted: their order is the labels' (as ImageFolderDataset reads them). */
  classNames: string[];
  /** Images written per split. */
  train: number;
  val: number;
}

// Large shapes so the category, not the background, dominates even at 32 px.
const RENDER = { objects: [1, 1] as [number, number], radius: [0.2, 0.38] as [number, number] };

export async function writeShapesClassification(root: string, o: ShapesClassificationOptions): Promise<ShapesClassificationSummary> {
  if (!(Number.isInteger(o.perClass) && o.perClass >= 1)) throw new Error(`writeShapesClassification: perClass must be a positive integer, got ${o.perClass}`);
  if (!(Number.isInteger(o.valPerClass) && o.valPerClass >= 0)) throw new Error(`writeShapesClassification: valPerClass must be a non-negative integer, got ${o.valPerClass}`);
  if (!(Number.isInteger(o.size) && o.size >= 16)) throw new Error(`writeShapesClassification: size must be an integer of at least 16, got ${o.size}`);
  for (const [split, count, salt] of [['train', o.perClass, 1], ['val', o.valPerClass, 2]] as const) {
    const rng = new Rng(deriveSeed(o.seed, salt));
    const counts = new Map<string, number>();
    for (const c of SHAPE_CATEGORIES) await mkdir(join(root, split, c), { recursive: true });
    // The renderer picks categories at random: keep drawing until every class is full, skipping
    // images of full classes. 50 draws per wanted image is far beyond what 6 categories need.
    let guard = 0;
    while (SHAPE_CATEGORIES.some((c) => (counts.get(c) ?? 0) < count)) {
      if (++guard > count * SHAPE_CATEGORIES.length * 50) throw new Error('writeShapesClassification: the renderer keeps failing to place shapes');
      const img = renderShapesImage(o.size, o.size, rng, RENDER);
      const inst = img.instances[0];
      if (!inst) continue;
      const have = counts.get(inst.category) ?? 0;
      if (have >= count) continue;
      counts.set(inst.category, have + 1);
      await writeFile(join(root, split, inst.category, `${String(have).padStart(4, '0')}.png`), await encodeImage(img.image, 'png'));
    }
  }
  return { classNames: [...SHAPE_CATEGORIES].sort(), train: o.perClass * SHAPE_CATEGORIES.length, val: o.valPerClass * SHAPE_CATEGORIES.length };
}
