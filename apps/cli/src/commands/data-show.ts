import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataLoader, drawBatch, encodeImage, openCocoDir, trainPipeline } from '@partialnet/data';
import { numberFlag, numberListFlag, parseCommandArgs } from '../args.js';
import { UsageError, type Command } from '../command.js';

const usage = `usage: partialnet data show --data DIR --out DIR2 [--n 8] [--split train|val] [--seed S]
                         [--scale LONG,SHORT] [--no-flip] [--photometric]

Writes PNGs of the first N training samples of DIR (a "shapes" set from \`data synth\`, or a COCO
layout DIR/annotations/instances_<split>.json + DIR/<split>/) after the training transforms
(resize keeping ratio, random flip, normalize, pad 32; optional photometric distortion), with
their instance masks, boxes, labels and dashed crowd/ignore boxes drawn: what the model sees.
--scale defaults to the image size of a shapes set (so only flip and padding show) and to
1333,800 otherwise.`;

export const dataShowCommand: Command = {
  name: 'data show',
  summary: 'draw training samples (boxes, labels, masks after transforms) to PNGs',
  usage,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      data: { type: 'string' },
      out: { type: 'string' },
      n: { type: 'string' },
      split: { type: 'string', default: 'train' },
      seed: { type: 'string' },
      scale: { type: 'string' },
      'no-flip': { type: 'boolean', default: false },
      photometric: { type: 'boolean', default: false },
    });
    if (!values.data) throw new UsageError('--data DIR is required');
    if (!values.out) throw new UsageError('--out DIR2 is required');
    const n = numberFlag('n', values.n, 8);
    if (!(n >= 1 && Number.isInteger(n))) throw new UsageError(`--n: expected a positive integer, got '${values.n}'`);
    const seed = numberFlag('seed', values.seed, 0);
    const { dataset, manifest } = await openCocoDir(values.data, values.split);
    const fallback: [number, number] = manifest ? [manifest.width, manifest.height] : [1333, 800];
    const scale = numberListFlag('scale', values.scale, fallback);
    if (scale.length !== 2) throw new UsageError(`--scale: expected LONG,SHORT, got '${values.scale}'`);
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
};
