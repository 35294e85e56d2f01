import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataLoader, drawBatch, encodeImage, openCocoDir, trainPipeline } from '@partialnet/data';
import { defineCommand } from '../options.js';

export const dataShowCommand = defineCommand({
  name: 'data show',
  summary: 'draw training samples (boxes, labels, masks after transforms) to PNGs',
  description: `Writes PNGs of the first N training samples of DIR (a "shapes" set from \`data synth\`, or a COCO
layout DIR/annotations/instances_<split>.json + DIR/<split>/) after the training transforms
(resize keeping ratio, random flip, normalize, pad 32; optional photometric distortion), with
their instance masks, boxes, labels and dashed crowd/ignore boxes drawn: what the model sees.`,
  options: {
    data: { type: 'string', arg: 'DIR', required: true, help: 'a shapes folder or a COCO layout' },
    out: { type: 'string', arg: 'DIR2', required: true, help: 'folder for the PNGs' },
    n: { type: 'integer', default: 8, min: 1, help: 'samples to draw' },
    split: { type: 'string', default: 'train', help: 'split to draw from' },
    seed: { type: 'integer', default: 0, min: 0, help: 'random seed of the transforms' },
    scale: { type: 'integers', arg: 'LONG,SHORT', count: 2, min: 1, help: "resize scale (default: a shapes set's image size, so only flip and padding show; else 1333,800)" },
    'no-flip': { type: 'boolean', help: 'no random horizontal flip' },
    photometric: { type: 'boolean', help: 'apply the photometric distortion' },
  },
  async run(values) {
    const { n, seed } = values;
    const { dataset, manifest } = await openCocoDir(values.data, values.split);
    const scale = values.scale ?? (manifest ? [manifest.width, manifest.height] : [1333, 800]);
    const pipeline = trainPipeline({
      scale: [scale[0]!, scale[1]!],
      flipProb: values['no-flip'] ? 0 : 0.5,
      photometric: values.photometric,
    });
    await mkdir(values.out, { recursive: true });
    const loader = new DataLoader(dataset, { batchSize: 1, pipeline, seed, reuseBuffers: false, skipBadImages: true });
    let written = 0;
    try {
      for await (const batch of loader.epoch(0)) {
        const [img] = drawBatch(batch, dataset.classNames);
        const meta = batch.metas[0]!;
        const file = join(values.out, `${String(written).padStart(3, '0')}_image${meta.imageId}${meta.flip ? '_flip' : ''}.png`);
        await writeFile(file, await encodeImage(img!, 'png'));
        console.log(`${file}  ${batch.targets[0]!.labels.length} instances, ${meta.oriShape[1]}x${meta.oriShape[0]} -> ${meta.imgShape[1]}x${meta.imgShape[0]} padded ${batch.shape[2]}x${batch.shape[1]}`);
        if (++written >= n) break;
      }
    } finally {
      await loader.close();
    }
    if (loader.stats.badImages) console.log(`${loader.stats.badImages} bad images skipped`);
    return 0;
  },
});
