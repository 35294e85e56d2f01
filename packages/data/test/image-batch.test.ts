import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imageBatch } from '../src/image-batch.js';
import { DataLoader, RecordDataset, decodeImage, encodeImage, testPipeline } from '../src/index.js';
import { tempDir, testImage } from './helpers.js';

describe('imageBatch (decoded pixels to a batch, for pages)', () => {
  it('gives the very batch the data loader gives for the same image file (pixels bit for bit, same metas)', async () => {
    const { dir, cleanup } = await tempDir('pn-image-batch-');
    try {
      const file = join(dir, 'a.png');
      await writeFile(file, await encodeImage(testImage(90, 61, 5), 'png'));
      const loader = new DataLoader(new RecordDataset([{ index: 0, imageId: 1, file }]), { batchSize: 1, pipeline: testPipeline({ scale: [128, 96] }), shuffle: false, workers: 0 });
      let fromLoader;
      for await (const b of loader.epoch(0)) fromLoader = b;
      await loader.close();
      const ours = imageBatch([await decodeImage(file)], [128, 96], [file]);
      expect(ours.shape).toEqual(fromLoader!.shape);
      expect(Buffer.from(ours.images.buffer, ours.images.byteOffset, ours.images.byteLength).equals(Buffer.from(fromLoader!.images.buffer, fromLoader!.images.byteOffset, fromLoader!.images.byteLength))).toBe(true);
      const { index: _a, ...metaOurs } = ours.metas[0]!;
      const { index: _b, ...metaLoader } = fromLoader!.metas[0]!;
      expect(metaOurs).toEqual(metaLoader);
    } finally {
      await cleanup();
    }
  });
});
