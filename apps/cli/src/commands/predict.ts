import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { area as rleArea } from '@partialnet/coco';
import { setupBackend, tf } from '@partialnet/core';
import { RecordDataset, decodeImage, encodeImage } from '@partialnet/data';
import { detectionMasksToRle } from '@partialnet/detection';
import { detectionTestLoader, drawDetections, filterDetections, openDetectionCheckpoint } from '@partialnet/pipeline';
import { UsageError } from '../command.js';
import { BACKEND_OPTION, defineCommand } from '../options.js';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff']);

async function listImages(inputs: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const input of inputs) {
    if (!existsSync(input)) throw new Error(`${input}: no such file or folder`);
    if (statSync(input).isDirectory()) {
      const names = (await readdir(input)).filter((n) => IMAGE_EXTENSIONS.has(extname(n).toLowerCase())).sort();
      if (names.length === 0) throw new Error(`${input}: no images (${[...IMAGE_EXTENSIONS].join(', ')}) in this folder`);
      files.push(...names.map((n) => resolve(input, n)));
    } else {
      files.push(resolve(input));
    }
  }
  return files;
}

/** Output names from file names, made unique when two inputs share one. */
function outputNames(files: string[]): string[] {
  const seen = new Map<string, number>();
  return files.map((f) => {
    const stem = basename(f, extname(f));
    const n = seen.get(stem) ?? 0;
    seen.set(stem, n + 1);
    return n === 0 ? `${stem}.png` : `${stem}_${n}.png`;
  });
}

export const predictCommand = defineCommand({
  name: 'predict',
  summary: 'draw a trained detector\'s detections on images and write them as COCO JSON',
  synopsis: '--checkpoint RUN|CHECKPOINT --out DIR [options] IMAGE|DIR...',
  description: `Runs a trained detector on images (files, or every .jpg/.jpeg/.png/.webp/.tif in a folder) and writes
DIR/<image name>.png with the masks, boxes, class names and scores drawn, and DIR/predictions.json: a
COCO-format file (images, categories, and the detections as annotations with a "score", masks as RLE)
that COCO tools read as they are (e.g. as pseudo-labels). Detections below --score are left out.
Pictures of images smaller than --upscale pixels (long side) are enlarged by a whole factor so that
labels stay readable (0: original size); the JSON is always in original image pixels.`,
  options: {
    checkpoint: { type: 'string', arg: 'RUN', required: true, help: 'a train run folder (its newest checkpoint) or one checkpoint folder' },
    out: { type: 'string', arg: 'DIR', required: true, help: 'folder for the pictures and predictions.json' },
    score: { type: 'number', default: 0.3, min: 0, max: 1, help: 'lowest score kept' },
    batch: { type: 'integer', default: 1, min: 1, help: 'images per batch' },
    workers: { type: 'integer', default: 0, min: 0, help: 'decoding worker threads' },
    upscale: { type: 'integer', arg: 'PX', default: 512, min: 0, help: 'enlarge pictures smaller than this (long side); 0: never' },
    backend: BACKEND_OPTION,
  },
  positionals: true,
  async run(values, positionals) {
    if (positionals.length === 0) throw new UsageError('give at least one image or folder');
    const { score, upscale } = values;
    const files = await listImages(positionals);
    const report = await setupBackend(values.backend);
    const ckpt = await openDetectionCheckpoint(values.checkpoint);
    const { config, classNames, categoryIds } = ckpt.info;
    await mkdir(values.out, { recursive: true });
    const names = outputNames(files);
    const dataset = new RecordDataset(files.map((file, i) => ({ index: i, imageId: i + 1, file })));
    const loader = detectionTestLoader(dataset, { scale: config.scale, batchSize: values.batch, workers: values.workers });
    const images: { id: number; file_name: string; width: number; height: number }[] = [];
    const annotations: Record<string, unknown>[] = [];
    let detected = 0;
    const t0 = performance.now();
    try {
      for await (const batch of loader.epoch(0)) {
        const x = tf.tensor4d(batch.images, batch.shape, 'float32');
        let dets;
        try {
          dets = await ckpt.model.predict(x, batch.metas);
        } finally {
          x.dispose();
        }
        for (let i = 0; i < dets.length; i++) {
          const meta = batch.metas[i]!;
          const d = filterDetections(dets[i]!, score);
          const original = await decodeImage(meta.file, { imageId: meta.imageId });
          const out = join(values.out, names[meta.index]!);
          await writeFile(out, await encodeImage(drawDetections(original, d, classNames, { upscaleTo: upscale }), 'png'));
          images.push({ id: meta.imageId, file_name: meta.file, width: original.width, height: original.height });
          const rles = detectionMasksToRle(d);
          for (let k = 0; k < d.scores.length; k++) {
            const [x1, y1, x2, y2] = d.boxes.subarray(4 * k, 4 * k + 4);
            const bbox = [x1!, y1!, x2! - x1!, y2! - y1!].map((v) => Math.round(v * 100) / 100);
            annotations.push({
              id: annotations.length + 1,
              image_id: meta.imageId,
              category_id: categoryIds[d.labels[k]!],
              bbox,
              area: rles[k] ? rleArea(rles[k]!) : bbox[2]! * bbox[3]!,
              score: Math.round(d.scores[k]! * 1e5) / 1e5,
              iscrowd: 0,
              ...(rles[k] ? { segmentation: rles[k] } : {}),
            });
          }
          detected += d.scores.length;
          console.log(`${out}: ${d.scores.length} detection(s)${d.scores.length ? ` (${[...new Set(Array.from(d.labels, (l) => classNames[l]))].join(', ')})` : ''}`);
        }
      }
    } finally {
      await loader.close();
      ckpt.model.dispose();
    }
    const coco = { images, categories: categoryIds.map((id, i) => ({ id, name: classNames[i] })), annotations };
    const json = join(values.out, 'predictions.json');
    await writeFile(json, `${JSON.stringify(coco)}\n`);
    const seconds = (performance.now() - t0) / 1000;
    console.log(`${files.length} image(s), ${detected} detection(s) with score >= ${score} in ${seconds.toFixed(1)} s on ${report.name}; ${json}`);
    return 0;
  },
});
