import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PartialNet } from '@partialnet/backbone';
import { saveCheckpoint, saveSafetensors, seedEverything, setupBackend, tf } from '@partialnet/core';
import { RecordDataset, SHAPE_CATEGORIES, writeShapesDataset } from '@partialnet/data';
import { imageBatch } from '@partialnet/data/image-batch';
import { createDetector } from '@partialnet/detection';
import { detectionTestLoader, openDetectionCheckpoint, resolveRunConfig } from '@partialnet/pipeline';
import { chromium, type Browser } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveStatic } from '../scripts/serve-static.mjs';

// The built page in a real Chromium (Debian's package, no browser download) runs a detector on an
// image and must find what the Node pipeline (`partialnet predict`'s path: run folder, data
// loader, predict) finds for the same weights and image: same classes, boxes within 1e-3.

const CHROMIUM = process.env.PARTIALNET_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const APP = fileURLToPath(new URL('..', import.meta.url));
const OUT = path.join(APP, 'test-output');
const SITE = path.join(OUT, 'site');

interface PageDetection {
  box: number[];
  label: number;
  className: string;
  score: number;
}
interface PageState {
  state: string;
  error?: string;
  backend?: { name: string; gpuAdapter?: Record<string, string> };
  results: { name: string; backend: string; ms: number; detections?: PageDetection[]; top?: { index: number; prob: number }[]; features?: { stride: number; shape: number[] }[] }[];
}

describe.skipIf(!HAVE_CHROMIUM)(`the web page in headless Chromium (${CHROMIUM})`, () => {
  let server: Server;
  let browser: Browser;
  let base = '';
  const files = { weights: '', state: '', image: '', backbone: '' };
  let expected: PageDetection[] = [];
  let expectedTop: { index: number; prob: number }[] = [];
  /** Detector.predict returns a Promise once it reads the GPU asynchronously. */
  let predictIsAsync = false;

  beforeAll(async () => {
    const t0 = performance.now();
    await rm(OUT, { recursive: true, force: true });
    await mkdir(OUT, { recursive: true });
    await build({ root: APP, logLevel: 'warn', build: { outDir: SITE, emptyOutDir: true } });

    // A seeded, untrained Mask R-CNN saved as a run checkpoint, and a synthetic val image. Its
    // classifier weights are scaled up so that scores spread out (untrained, they all sit near
    // 1/7 and their order would hang on rounding).
    await setupBackend('wasm');
    const data = path.join(OUT, 'shapes');
    const manifest = await writeShapesDataset(data, { images: 2, width: 96, height: 128, seed: 3, format: 'png' });
    const val = JSON.parse(await readFile(path.join(data, manifest.splits.val.annotations), 'utf8')) as { images: { file_name: string }[] };
    files.image = path.join(data, manifest.splits.val.images, val.images[0]!.file_name);
    const config = resolveRunConfig({ preset: 'mask-rcnn-lite-t0', scale: [128, 128] }, SHAPE_CATEGORIES.length);
    seedEverything(7);
    const model = createDetector(config.model);
    const run = path.join(OUT, 'run');
    const extra = { task: 'detection', config, classNames: [...SHAPE_CATEGORIES], categoryIds: SHAPE_CATEGORIES.map((_, i) => i + 1) };
    const weights = await model.stateDict();
    const cls = weights.get('roi_head.bbox_head.fc_cls.weight')!.data as Float32Array;
    for (let i = 0; i < cls.length; i++) cls[i]! *= 100;
    const dir = await saveCheckpoint(run, weights, new Map(), { iter: 0, epoch: 0, batchInEpoch: 0, randomState: 0, extra });
    model.dispose();
    files.weights = path.join(dir, 'model.safetensors');
    files.state = path.join(dir, 'state.json');

    // The Node pipeline's detections for that run and image.
    const ckpt = await openDetectionCheckpoint(run);
    const loader = detectionTestLoader(new RecordDataset([{ index: 0, imageId: 1, file: files.image }]), { scale: ckpt.info.config.scale, batchSize: 1, workers: 0 });
    for await (const batch of loader.epoch(0)) {
      const x = tf.tensor4d(batch.images, batch.shape, 'float32');
      const pending = ckpt.model.predict(x, batch.metas);
      predictIsAsync = (pending as unknown) instanceof Promise;
      const [d] = await pending;
      x.dispose();
      expected = Array.from(d!.scores, (score, k) => ({ box: Array.from(d!.boxes.subarray(4 * k, 4 * k + 4)), label: d!.labels[k]!, className: SHAPE_CATEGORIES[d!.labels[k]!]!, score }));
    }
    await loader.close();
    ckpt.model.dispose();

    // A seeded PartialNet-T0 with a 10-class head for the page's backbone mode, and its top
    // classes in Node for the same input (the page resizes to 224 through the same transforms).
    seedEverything(1);
    const net = PartialNet.create('t0', { numClasses: 10 });
    net.eval();
    files.backbone = path.join(OUT, 'partialnet_t0.safetensors');
    await saveSafetensors(await net.stateDict(), files.backbone);
    const { decodeImage } = await import('@partialnet/data');
    const batch = imageBatch([await decodeImage(files.image)], [224, 224]);
    const x = tf.tensor4d(batch.images, batch.shape, 'float32');
    const probs = tf.tidy(() => tf.softmax(net.forward(x)));
    expectedTop = Array.from((await probs.data()) as Float32Array, (prob, index) => ({ index, prob })).sort((a, b) => b.prob - a.prob).slice(0, 5);
    tf.dispose([x, probs]);
    net.dispose();

    ({ server, url: base } = await serveStatic(SITE));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // SwiftShader's WebGPU (Vulkan on the CPU) where the machine has no GPU.
      args: ['--no-sandbox', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'],
    });
    console.log(`setup (build, model, Node predictions, Chromium start): ${((performance.now() - t0) / 1000).toFixed(1)} s; ${expected.length} detections in Node`);
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  });

  /** Loads the page on a backend, gives it the run's files and the image, returns what it found. */
  async function runPage(backend: string, inputs = [files.weights, files.state, files.image]): Promise<PageState> {
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    const logs: string[] = [];
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    try {
      await page.goto(`${base}?backend=${backend}&score=0`);
      await page.setInputFiles('#files', inputs);
      await page.waitForFunction(() => ['done', 'error'].includes((window as unknown as { partialnet: PageState }).partialnet.state), undefined, { timeout: 240_000 });
      const state = await page.evaluate(() => (window as unknown as { partialnet: PageState }).partialnet);
      await page.screenshot({ path: path.join(OUT, `page-${backend}${inputs.length === 2 ? '-backbone' : ''}.png`), fullPage: true });
      if (state.state === 'error') console.log(logs.join('\n'));
      return state;
    } finally {
      await page.close();
    }
  }

  function expectSameDetections(got: PageDetection[]): void {
    expect(expected.length).toBeGreaterThan(0);
    expect(got.map((d) => d.className)).toEqual(expected.map((d) => d.className));
    let worst = 0;
    got.forEach((d, k) => d.box.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - expected[k]!.box[i]!)))));
    expect(worst).toBeLessThanOrEqual(1e-3);
    got.forEach((d, k) => expect(d.score).toBeCloseTo(expected[k]!.score, 4));
  }

  it('on wasm the page finds the Node pipeline\'s detections (same classes, boxes within 1e-3)', async () => {
    const state = await runPage('wasm');
    expect(state.error).toBeUndefined();
    expect(state.backend?.name).toBe('wasm');
    expect(state.results).toHaveLength(1);
    expectSameDetections(state.results[0]!.detections!);
    console.log(`wasm: ${state.results[0]!.detections!.length} detections, ${state.results[0]!.ms.toFixed(0)} ms for the image`);
  });

  /** The adapter Chromium offers (its info as JSON), or why there is none. */
  async function webgpuAdapter(): Promise<string> {
    const probe = await browser.newPage();
    await probe.goto(base);
    const adapter = await probe.evaluate(async () => {
      const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info?: Record<string, string> } | null> } }).gpu;
      if (!gpu) return 'no navigator.gpu';
      const a = await gpu.requestAdapter();
      return a ? JSON.stringify(a.info ?? {}) : 'no adapter';
    });
    await probe.close();
    return adapter;
  }

  it('on WebGPU (SwiftShader where there is no GPU) the page finds the Node pipeline\'s detections', async (ctx) => {
    const adapter = await webgpuAdapter();
    if (!adapter.startsWith('{')) {
      console.log(`WebGPU skipped: Chromium offers ${adapter}`);
      ctx.skip();
    }
    if (!predictIsAsync) {
      // tfjs-backend-webgpu serves dataSync() in a page through a 'webgpu' canvas context, which
      // headless Chromium on SwiftShader cannot create (no shared image): the reads come back empty.
      console.log('WebGPU detector skipped: Detector.predict reads the GPU synchronously (dataSync) in this build');
      ctx.skip();
    }
    const state = await runPage('webgpu');
    expect(state.error).toBeUndefined();
    expect(state.backend?.name).toBe('webgpu');
    expectSameDetections(state.results[0]!.detections!);
    console.log(`webgpu (${adapter}): ${state.results[0]!.detections!.length} detections, ${state.results[0]!.ms.toFixed(0)} ms for the image`);
  });

  it.for(['wasm', 'webgpu'])('backbone mode on %s: the page\'s top classes and feature maps equal Node\'s', async (backend, ctx) => {
    if (backend === 'webgpu') {
      const adapter = await webgpuAdapter();
      if (!adapter.startsWith('{')) {
        console.log(`WebGPU skipped: Chromium offers ${adapter}`);
        ctx.skip();
      }
    }
    const state = await runPage(backend, [files.backbone, files.image]);
    expect(state.error).toBeUndefined();
    expect(state.backend?.name).toBe(backend);
    const r = state.results[0]!;
    expect(r.top!.map((t) => t.index)).toEqual(expectedTop.map((t) => t.index));
    r.top!.forEach((t, k) => expect(Math.abs(t.prob - expectedTop[k]!.prob)).toBeLessThan(1e-5));
    // 96x128 resized to 168x224 keeping the ratio: strides 4..32 of the 32-padded 192x224 input.
    expect(r.features!.map((f) => f.shape)).toEqual([[56, 48, 32], [28, 24, 64], [14, 12, 128], [7, 6, 256]]);
    console.log(`backbone on ${backend}: ${r.ms.toFixed(0)} ms for the image`);
  });
});
