import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { area as rleArea } from '@partialnet/coco';
import { Rng, setupBackend, tf } from '@partialnet/core';
import { decodeImage, encodeImage, testPipeline, type RgbImage } from '@partialnet/data';
import { applyTransforms, collate, makeSample, recordTargets, type Sample } from '@partialnet/data/internals';
import { detectionMasksToRle } from '@partialnet/detection';
import { JsonArrayWriter, drawDetections, filterDetections, openDetectionCheckpoint, openDetectionRuntime, parseShard, shardImageIds, type Shard } from '@partialnet/pipeline';
import { UsageError } from '../command.js';
import { BACKEND_OPTION, RUNTIME_OPTIONS, defineCommand, runtimeChoice } from '../options.js';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff']);

export async function listImages(inputs: string[]): Promise<string[]> {
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
export function outputNames(files: string[]): string[] {
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
labels stay readable (0: original size); the JSON is always in original image pixels. Each image is
decoded once; predictions.json is streamed to a temporary name and renamed when every image is done.
--runtime onnx runs the dense part in ONNX Runtime (see 'partialnet eval --help').
Image ids are positions in the sorted input list (1..n). --shard I/N (0 <= I < N) predicts only the
images whose id is in shard I (position among the sorted ids = I mod N), keeping the global ids, so
N jobs with different --out folders together cover every image once.`,
  options: {
    checkpoint: { type: 'string', arg: 'RUN', required: true, help: 'a train run folder (its newest checkpoint) or one checkpoint folder' },
    out: { type: 'string', arg: 'DIR', required: true, help: 'folder for the pictures and predictions.json' },
    score: { type: 'number', default: 0.3, min: 0, max: 1, help: 'lowest score kept' },
    batch: { type: 'integer', default: 1, min: 1, help: 'images per batch' },
    upscale: { type: 'integer', arg: 'PX', default: 512, min: 0, help: 'enlarge pictures smaller than this (long side); 0: never' },
    backend: BACKEND_OPTION,
    ...RUNTIME_OPTIONS,
    shard: { type: 'string', arg: 'I/N', help: 'predict only shard I of N (0-based) of the images, keeping global image ids' },
  },
  positionals: true,
  async run(values, positionals) {
    if (positionals.length === 0) throw new UsageError('give at least one image or folder');
    const runtimeOptions = runtimeChoice(values);
    const score = values.score;
    const upscale = values.upscale;
    let shard: Shard | undefined;
    try {
      shard = values.shard === undefined ? undefined : parseShard(values.shard);
    } catch (err) {
      throw new UsageError(`--shard: ${(err as Error).message}`);
    }
    const files = await listImages(positionals);
    // Image id i + 1 for files[i], whether sharded or not, so shards' ids never collide.
    const selected = shard ? new Set(shardImageIds(files.map((_, i) => i + 1), shard)) : undefined;
    const todo = files.map((_, i) => i).filter((i) => !selected || selected.has(i + 1));
    const report = await setupBackend(values.backend);
    const ckpt = await openDetectionCheckpoint(values.checkpoint);
    const runtime = await openDetectionRuntime(ckpt.model, runtimeOptions).catch((e: unknown) => {
      ckpt.model.dispose();
      throw e;
    });
    const { config, classNames, categoryIds } = ckpt.info;
    await mkdir(values.out, { recursive: true });
    const names = outputNames(files);
    const batchSize = values.batch;
    const specs = testPipeline({ scale: config.scale });
    const images: { id: number; file_name: string; width: number; height: number }[] = [];
    const json = join(values.out, 'predictions.json');
    // Detections stream to the file (a temporary name until the end); images and categories are small.
    const writer = new JsonArrayWriter<Record<string, unknown>>(json, {
      prefix: `{"categories":${JSON.stringify(categoryIds.map((id, i) => ({ id, name: classNames[i] })))},"annotations":[`,
      suffix: () => `],"images":${JSON.stringify(images)}}`,
    });
    let detected = 0;
    const t0 = performance.now();
    /** Each image is decoded once: the original is drawn on, a transformed copy feeds the model. */
    const runBatch = async (originals: { image: RgbImage; sample: Sample; index: number }[]) => {
      const batch = collate(originals.map((o) => o.sample));
      const x = tf.tensor4d(batch.images, batch.shape, 'float32');
      let dets;
      try {
        dets = await runtime.predict(x, batch.metas);
      } finally {
        x.dispose();
      }
      for (let i = 0; i < dets.length; i++) {
        const meta = batch.metas[i]!;
        const original = originals[i]!.image;
        const d = filterDetections(dets[i]!, score);
        const out = join(values.out!, names[meta.index]!);
        await writeFile(out, await encodeImage(drawDetections(original, d, classNames, { upscaleTo: upscale }), 'png'));
        images.push({ id: meta.imageId, file_name: meta.file, width: original.width, height: original.height });
        const rles = detectionMasksToRle(d);
        const annotations: Record<string, unknown>[] = [];
        for (let k = 0; k < d.scores.length; k++) {
          const [x1, y1, x2, y2] = d.boxes.subarray(4 * k, 4 * k + 4);
          const bbox = [x1!, y1!, x2! - x1!, y2! - y1!].map((v) => Math.round(v * 100) / 100);
          annotations.push({
            id: detected + k + 1,
            image_id: meta.imageId,
            category_id: categoryIds[d.labels[k]!],
            bbox,
            area: rles[k] ? rleArea(rles[k]!) : bbox[2]! * bbox[3]!,
            score: Math.round(d.scores[k]! * 1e5) / 1e5,
            iscrowd: 0,
            ...(rles[k] ? { segmentation: rles[k] } : {}),
          });
        }
        await writer.write(annotations);
        detected += d.scores.length;
        console.log(`${out}: ${d.scores.length} detection(s)${d.scores.length ? ` (${[...new Set(Array.from(d.labels, (l) => classNames[l]))].join(', ')})` : ''}`);
      }
    };
    let complete = false;
    try {
      let pending: { image: RgbImage; sample: Sample; index: number }[] = [];
      for (let j = 0; j < todo.length; j++) {
        const i = todo[j]!;
        const record = { index: i, imageId: i + 1, file: files[i]! };
        const image = await decodeImage(record.file, { imageId: record.imageId });
        const sample = applyTransforms(makeSample(record, image, recordTargets(record)), specs, new Rng(0));
        pending.push({ image, sample, index: i });
        if (pending.length === batchSize || j === todo.length - 1) {
          await runBatch(pending);
          pending = [];
        }
      }
      complete = true;
    } finally {
      await runtime.dispose();
      ckpt.model.dispose();
      await (complete ? writer.close() : writer.abort());
    }
    const seconds = (performance.now() - t0) / 1000;
    console.log(`${todo.length} image(s)${shard ? ` (shard ${shard.index}/${shard.count} of ${files.length})` : ''}, ${detected} detection(s) with score >= ${score} in ${seconds.toFixed(1)} s on ${runtime.description === 'tfjs' ? report.name : runtime.description}; ${json}`);
    return 0;
  },
});
