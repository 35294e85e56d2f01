import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { saveCheckpoint, seedEverything, setupBackend, tf } from '@partialnet/core';
import { RecordDataset, SHAPE_CATEGORIES, writeShapesDataset } from '@partialnet/data';
import { createDetector } from '@partialnet/detection';
import { detectionTestLoader, openDetectionCheckpoint, resolveRunConfig } from '@partialnet/pipeline';
import { chromium, type Browser } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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
  results: { name: string; backend: string; ms: number; detections?: PageDetection[] }[];
}

const MIME: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.png': 'image/png' };

function serve(root: string): Promise<Server> {
  const server = createServer((req, res) => {
    const rel = decodeURIComponent((req.url ?? '/').split('?')[0]!).replace(/^\/+/, '') || 'index.html';
    const file = path.join(root, path.normalize(rel));
    if (!file.startsWith(root)) return void res.writeHead(403).end();
    readFile(file).then(
      (body) => res.writeHead(200, { 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe.skipIf(!HAVE_CHROMIUM)(`the web page in headless Chromium (${CHROMIUM})`, () => {
  let server: Server;
  let browser: Browser;
  let base = '';
  const files = { weights: '', state: '', image: '' };
  let expected: PageDetection[] = [];

  beforeAll(async () => {
    const t0 = performance.now();
    await rm(OUT, { recursive: true, force: true });
    await mkdir(OUT, { recursive: true });
    await build({ root: APP, logLevel: 'warn', build: { outDir: SITE, emptyOutDir: true } });

    // A seeded, untrained Mask R-CNN (deterministic weights; its scores clear the preset's 0.05
    // threshold) saved as a run checkpoint, and a synthetic val image.
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
    const dir = await saveCheckpoint(run, model.stateDict(), new Map(), { iter: 0, epoch: 0, batchInEpoch: 0, randomState: 0, extra });
    model.dispose();
    files.weights = path.join(dir, 'model.safetensors');
    files.state = path.join(dir, 'state.json');

    // The Node pipeline's detections for that run and image.
    const ckpt = await openDetectionCheckpoint(run);
    const loader = detectionTestLoader(new RecordDataset([{ index: 0, imageId: 1, file: files.image }]), { scale: ckpt.info.config.scale, batchSize: 1, workers: 0 });
    for await (const batch of loader.epoch(0)) {
      const x = tf.tensor4d(batch.images, batch.shape, 'float32');
      const [d] = await ckpt.model.predict(x, batch.metas);
      x.dispose();
      expected = Array.from(d!.scores, (score, k) => ({ box: Array.from(d!.boxes.subarray(4 * k, 4 * k + 4)), label: d!.labels[k]!, className: SHAPE_CATEGORIES[d!.labels[k]!]!, score }));
    }
    await loader.close();
    ckpt.model.dispose();

    server = await serve(SITE);
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/index.html`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // SwiftShader's WebGPU (Vulkan on the CPU) where the machine has no GPU.
      args: ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--disable-vulkan-surface'],
    });
    console.log(`setup (build, model, Node predictions, Chromium start): ${((performance.now() - t0) / 1000).toFixed(1)} s; ${expected.length} detections in Node`);
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  });

  /** Loads the page on a backend, gives it the run's files and the image, returns what it found. */
  async function runPage(backend: string): Promise<PageState> {
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    const logs: string[] = [];
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    try {
      await page.goto(`${base}?backend=${backend}&score=0`);
      await page.setInputFiles('#files', [files.weights, files.state, files.image]);
      await page.waitForFunction(() => ['done', 'error'].includes((window as unknown as { partialnet: PageState }).partialnet.state), undefined, { timeout: 240_000 });
      const state = await page.evaluate(() => (window as unknown as { partialnet: PageState }).partialnet);
      await page.screenshot({ path: path.join(OUT, `page-${backend}.png`), fullPage: true });
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

  it('on WebGPU (SwiftShader where there is no GPU) the page finds the Node pipeline\'s detections, or says why WebGPU is absent', async (ctx) => {
    const probe = await browser.newPage();
    await probe.goto(base);
    const adapter = await probe.evaluate(async () => {
      const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info?: Record<string, string> } | null> } }).gpu;
      if (!gpu) return 'no navigator.gpu';
      const a = await gpu.requestAdapter();
      return a ? JSON.stringify(a.info ?? {}) : 'no adapter';
    });
    await probe.close();
    if (!adapter.startsWith('{')) {
      console.log(`WebGPU skipped: Chromium offers ${adapter}`);
      ctx.skip();
    }
    const state = await runPage('webgpu');
    expect(state.error).toBeUndefined();
    expect(state.backend?.name).toBe('webgpu');
    expectSameDetections(state.results[0]!.detections!);
    console.log(`webgpu (${adapter}): ${state.results[0]!.detections!.length} detections, ${state.results[0]!.ms.toFixed(0)} ms for the image`);
  });
});
