// Issue 10, "Work lost" 7: annotations that cannot be used are reported, not dropped without a word.
import { describe, expect, it, vi } from 'vitest';
import { CocoDataset, type CocoInstancesLike } from '../src/index.js';

const coco = (): CocoInstancesLike => ({
  images: [
    { id: 1, file_name: 'a.png', width: 64, height: 48 },
    { id: 2, file_name: 'b.png', width: 64, height: 48 },
  ],
  categories: [{ id: 1, name: 'thing' }],
  annotations: [
    { id: 10, image_id: 1, category_id: 1, bbox: [1, 1, 10, 10], segmentation: [[1, 1, 11, 1, 11, 11, 1, 11]] },
    // RLE of another image size.
    { id: 11, image_id: 1, category_id: 1, bbox: [1, 1, 10, 10], segmentation: { size: [32, 32], counts: 'PP0' } },
    // Polygons with fewer than 3 points.
    { id: 12, image_id: 2, category_id: 1, bbox: [2, 2, 5, 5], segmentation: [[2, 2, 7, 7]] },
    { id: 13, image_id: 2, category_id: 1, bbox: [3, 3, 5, 5], segmentation: [] },
  ],
});

describe('CocoDataset: dropped annotations', () => {
  it('warns once, naming every dropped annotation id and why', () => {
    const warn = vi.fn();
    const ds = new CocoDataset(coco(), '/images', { onWarning: warn, source: 'instances_train.json' } as never);
    expect(warn).toHaveBeenCalledTimes(1);
    const message = warn.mock.calls[0]![0] as string;
    expect(message).toMatch(/instances_train\.json: 3 annotations? .*dropped/);
    expect(message).toMatch(/11 \(RLE size 32x32, image 64x48\)/);
    expect(message).toMatch(/12 \(no polygon with 3 or more points\)/);
    expect(message).toMatch(/13 \(no polygon with 3 or more points\)/);
    expect(ds.record(0).annotationIds).toEqual([10]);
    expect((ds as unknown as { dropped: { id: number }[] }).dropped.map((d) => d.id)).toEqual([11, 12, 13]);
  });

  it('says nothing when every annotation is usable, or when masks are not loaded', () => {
    const warn = vi.fn();
    const clean = coco();
    clean.annotations = clean.annotations.slice(0, 1);
    new CocoDataset(clean, '/images', { onWarning: warn } as never);
    new CocoDataset(coco(), '/images', { onWarning: warn, withMasks: false } as never);
    expect(warn).not.toHaveBeenCalled();
  });
});
