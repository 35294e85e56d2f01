/**
 * `pnpm --filter @partialnet/data bench` (after building): images/s of decoding and of the mmdet
 * training pipeline (resize to (1333, 800) keeping ratio, random flip, normalize, pad 32, batch 2)
 * over a folder of deterministic 640x480 JPEGs, with 0, 1 and 2 worker threads, plus peak memory.
 * Prints one JSON line per measurement.
 *
 * Options: --images N (default 48), --epochs N (default 2), --workers 0,1,2, --prefetch N (default 4)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeImage, encodeImage } from './decode.js';
import { DataLoader } from './loader.js';
import { RecordDataset } from './datasets.js';
import { Rng } from '@partialnet/core/random';
import { renderShapesImage } from './synth.js';
import { trainPipeline } from './transforms.js';
import type { SampleRecord } from './types.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '48' },
    epochs: { type: 'string', default: '2' },
    workers: { type: 'string', default: '0,1,2' },
    prefetch: { type: 'string', default: '4' },
  },
});
const nImages = Number(values.images);
const epochs = Number(values.epochs);
const workerCounts = values.workers!.split(',').map(Number);
const prefetch = Number(values.prefetch);

const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? '?', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
const workload = '640x480 JPEG -> resize 1333x800 keep ratio, flip 0.5, normalize, pad 32, batch 2';

function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

function peakTracker(): { stop: () => number } {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  return {
    stop: () => {
      clearInterval(t);
      return Math.round(Math.max(peak, process.memoryUsage().rss) / 2 ** 20);
    },
  };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pn-data-bench-'));
  try {
    const records: SampleRecord[] = [];
    for (let i = 0; i < nImages; i++) {
      const img = renderShapesImage(640, 480, new Rng(1000 + i), { objects: [3, 8], radius: [0.05, 0.2] });
      const file = join(dir, `${String(i).padStart(5, '0')}.jpg`);
      await writeFile(file, await encodeImage(img.image, 'jpeg', 90));
      const boxes: number[] = [];
      const labels: number[] = [];
      for (const inst of img.instances) {
        boxes.push(...inst.box);
        labels.push(inst.label);
      }
      records.push({ index: i, imageId: i + 1, file, width: 640, height: 480, boxes, labels, ignoreBoxes: [] });
    }

    // Decode only (sharp, in this process, 4 in flight).
    {
      const peak = peakTracker();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let done = 0;
      for (let e = 0; e < epochs; e++) {
        for (let i = 0; i < records.length; i += 4) {
          await Promise.all(records.slice(i, i + 4).map((r) => decodeImage(r.file)));
          done += Math.min(4, records.length - i);
        }
      }
      const s = (performance.now() - t0) / 1000;
      const cpuMsPerImg = cpuMs(cpu0) / done;
      console.log(JSON.stringify({ bench: 'data', stage: 'decode', workload: '640x480 JPEG -> RGB uint8', imgPerSec: +(done / s).toFixed(1), cpuMsPerImg: +cpuMsPerImg.toFixed(2), peakRssMiB: peak.stop(), loadAvg: loadavg()[0], machine }));
    }

    for (const workers of workerCounts) {
      const loader = new DataLoader(new RecordDataset(records), {
        batchSize: 2,
        pipeline: trainPipeline(),
        shuffle: true,
        seed: 0,
        workers,
        prefetch,
      });
      // Warm-up: starts the workers, fills the buffers.
      for await (const _ of loader.epoch(99)) break;
      const peak = peakTracker();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let done = 0;
      let shape: number[] = [];
      for (let e = 0; e < epochs; e++) {
        for await (const b of loader.epoch(e)) {
          done += b.shape[0];
          shape = b.shape;
        }
      }
      const s = (performance.now() - t0) / 1000;
      const waitMs = loader.stats.waitMs;
      await loader.close();
      console.log(
        JSON.stringify({
          bench: 'data',
          stage: 'train-pipeline',
          workload,
          workers,
          prefetch,
          images: done,
          batchShape: shape,
          imgPerSec: +(done / s).toFixed(1),
          // CPU time of all threads per image: with C idle cores the pipeline cannot beat C * 1000 / cpuMsPerImg.
          cpuMsPerImg: +(cpuMs(cpu0) / done).toFixed(2),
          loadAvg: loadavg()[0],
          consumerWaitMs: Math.round(waitMs),
          peakRssMiB: peak.stop(),
          machine,
        }),
      );
    }
    console.log(JSON.stringify({ bench: 'data', stage: 'summary', maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), machine }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
