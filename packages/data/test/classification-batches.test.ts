import { describe, expect, it } from 'vitest';
import { centerCropBox, renderClassificationSample } from '../src/internals.js';
import { classificationEvalBatches, classificationTrainBatches, type ClassificationBatch, type ClassificationSource, type RgbImage } from '../src/index.js';
import { testImage } from './helpers.js';

/** An in-memory source: 10 images of varied sizes, labels i % 3. */
function memorySource(n = 10): ClassificationSource & { loads: number } {
  const images: RgbImage[] = Array.from({ length: n }, (_, i) => testImage(30 + 3 * i, 24 + 2 * (i % 4), i));
  return {
    loads: 0,
    length: n,
    classNames: ['a', 'b', 'c'],
    label: (i) => i % 3,
    image(i) {
      this.loads++;
      return Promise.resolve(images[i]!);
    },
  };
}

async function collect(it: AsyncIterable<ClassificationBatch>): Promise<ClassificationBatch[]> {
  const out: ClassificationBatch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

describe('classificationTrainBatches', () => {
  const o = { size: 16, batchSize: 4, seed: 5, scale: [0.3, 1] as [number, number] };

  it('yields full, shuffled batches of distinct samples with their labels', async () => {
    const src = memorySource();
    const epochs = classificationTrainBatches(src, o);
    expect(epochs.batchesPerEpoch).toBe(2);
    const batches = await collect(epochs.batches(0));
    expect(batches).toHaveLength(2);
    const seen = batches.flatMap((b) => b.indices);
    expect(new Set(seen).size).toBe(8);
    for (const b of batches) {
      expect(b.shape).toEqual([4, 16, 16, 3]);
      expect(b.images.length).toBe(4 * 16 * 16 * 3);
      expect(Array.from(b.labels)).toEqual(b.indices.map((i) => i % 3));
      expect(b.mix).toBeUndefined();
    }
    expect(seen).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(classificationTrainBatches(memorySource(3), o).batchesPerEpoch).toBe(0);
  });

  it('is deterministic in (seed, epoch) and resumes mid-epoch to the same batches', async () => {
    const a = await collect(classificationTrainBatches(memorySource(), o).batches(1));
    const b = await collect(classificationTrainBatches(memorySource(), o).batches(1));
    expect(b).toEqual(a);
    const resumed = await collect(classificationTrainBatches(memorySource(), o).batches(1, 1));
    expect(resumed).toEqual(a.slice(1));
    const other = await collect(classificationTrainBatches(memorySource(), { ...o, seed: 6 }).batches(1));
    expect(other.map((x) => x.indices)).not.toEqual(a.map((x) => x.indices));
    const nextEpoch = await collect(classificationTrainBatches(memorySource(), o).batches(2));
    expect(nextEpoch.map((x) => x.indices)).not.toEqual(a.map((x) => x.indices));
  });

  it('mixes when asked, deterministically', async () => {
    const mixed = { ...o, mix: { mixup: 0.8, cutmix: 1, switchProb: 0.5 } };
    const a = await collect(classificationTrainBatches(memorySource(), mixed).batches(0));
    const b = await collect(classificationTrainBatches(memorySource(), mixed).batches(0));
    expect(a.every((x) => x.mix && x.mix.lam >= 0 && x.mix.lam <= 1)).toBe(true);
    expect(b).toEqual(a);
    const plain = await collect(classificationTrainBatches(memorySource(), o).batches(0));
    expect(plain[0]!.indices).toEqual(a[0]!.indices);
    expect(plain[0]!.images).not.toEqual(a[0]!.images);
    const off = await collect(classificationTrainBatches(memorySource(), { ...o, mix: { mixup: 0, cutmix: 0, switchProb: 0.5 } }).batches(0));
    expect(off).toEqual(plain);
  });
});

describe('classificationEvalBatches', () => {
  it('walks the source in order with a centre crop, last batch partial', async () => {
    const src = memorySource(5);
    const batches = await collect(classificationEvalBatches(src, { size: 12, batchSize: 2 }));
    expect(batches.map((b) => b.indices)).toEqual([[0, 1], [2, 3], [4]]);
    expect(batches[2]!.shape).toEqual([1, 12, 12, 3]);
    const img = await src.image(3);
    const want = new Float32Array(12 * 12 * 3);
    renderClassificationSample(img, { crop: centerCropBox(img.width, img.height), flip: false }, 12, want, 0);
    expect(batches[1]!.images.subarray(12 * 12 * 3)).toEqual(want);
  });
});
