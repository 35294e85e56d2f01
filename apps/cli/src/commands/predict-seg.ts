import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setupBackend } from '@partialnet/core';
import { RecordDataset, decodeImage, encodeImage, encodeLabelMap } from '@partialnet/data';
import { batchToTensor } from '@partialnet/data/tensor';
import { openSegCheckpoint, overlayLabels, segMetasOf, segTestLoader } from '@partialnet/pipeline';
import { UsageError } from '../command.js';
import { BACKEND_OPTION, defineCommand } from '../options.js';
import { listImages, outputNames } from './predict.js';

async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
}

export const predictSegCommand = defineCommand({
  name: 'predict-seg',
  summary: 'label PNGs and colour overlays from a trained Semantic FPN',
  synopsis: '--checkpoint RUN|CHECKPOINT IMAGE|DIR... --out DIR [options]',
  description: `Runs a trained Semantic FPN on images (files, or every image in a folder) at the run's test scale
and writes, per image, DIR/labels/<name>.png (one channel, the class index per pixel at the image's
size) and DIR/overlay/<name>.png (the image with the classes blended in, PASCAL VOC colours).`,
  options: {
    checkpoint: { type: 'string', arg: 'RUN', required: true, help: 'a train-seg run or checkpoint folder' },
    out: { type: 'string', arg: 'DIR', required: true, help: 'output folder' },
    flip: { type: 'boolean', help: 'horizontal-flip test-time augmentation' },
    alpha: { type: 'number', default: 0.5, min: 0, max: 1, help: 'opacity of the class colours in the overlays' },
    backend: BACKEND_OPTION,
  },
  positionals: true,
  async run(values, positionals) {
    if (positionals.length === 0) throw new UsageError('give at least one image or folder');
    const alpha = values.alpha;
    const files = await listImages(positionals);
    const backend = await setupBackend(values.backend);
    const ckpt = await openSegCheckpoint(values.checkpoint);
    const names = outputNames(files);
    const labelDir = join(values.out, 'labels');
    const overlayDir = join(values.out, 'overlay');
    await mkdir(labelDir, { recursive: true });
    await mkdir(overlayDir, { recursive: true });
    const loader = segTestLoader(new RecordDataset(files.map((file, i) => ({ index: i, imageId: i + 1, file }))), { scale: ckpt.info.config.scale, batchSize: 1, workers: 0 });
    const counts = new Float64Array(ckpt.info.classNames.length);
    try {
      for await (const batch of loader.epoch(0)) {
        const x = batchToTensor(batch);
        let preds;
        try {
          preds = await ckpt.model.predict(x, segMetasOf(batch.metas), { test: ckpt.info.config.test, flip: values.flip });
        } finally {
          x.dispose();
        }
        for (let i = 0; i < preds.length; i++) {
          const meta = batch.metas[i]!;
          const p = preds[i]!;
          const name = names[meta.index]!;
          for (const v of p.data) counts[v]!++;
          await writeAtomic(join(labelDir, name), await encodeLabelMap(p));
          const image = await decodeImage(meta.file);
          await writeAtomic(join(overlayDir, name), await encodeImage(overlayLabels(image, p, { alpha })));
        }
      }
    } finally {
      await loader.close();
      ckpt.model.dispose();
    }
    const total = counts.reduce((s, v) => s + v, 0);
    const share = [...counts].map((c, k) => [ckpt.info.classNames[k]!, c / total] as const).filter(([, f]) => f > 0).sort((a, b) => b[1] - a[1]);
    console.log(`${files.length} image(s) on ${backend.name} -> ${labelDir}, ${overlayDir}`);
    console.log(`pixels per class: ${share.map(([n, f]) => `${n} ${(f * 100).toFixed(1)}%`).join(', ')}`);
    return 0;
  },
});
