// Takes the README's screenshot: the built page (apps/web/dist) in headless Chromium with a run's
// checkpoint and images dropped on it.
//   node apps/web/scripts/screenshot.mjs CHECKPOINT_DIR IMAGE... --out docs/web-page.png [--backend wasm] [--score 0.5]
import { chromium } from 'playwright-core';
import { serveStatic } from './serve-static.mjs';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const [value] = args.splice(i, 2).slice(1);
  return value;
};
const out = flag('out', 'web-page.png');
const backend = flag('backend', 'wasm');
const score = flag('score', '0.5');
const width = Number(flag('width', '1100'));
const [checkpoint, ...images] = args;
if (!checkpoint || images.length === 0) {
  console.error('usage: screenshot.mjs CHECKPOINT_DIR IMAGE... --out PNG [--backend wasm] [--score 0.5] [--width 1100]');
  process.exit(2);
}
const { server, url } = await serveStatic(new URL('../dist', import.meta.url).pathname);
const browser = await chromium.launch({ executablePath: process.env.PARTIALNET_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width, height: 800 } });
  await page.goto(`${url}?backend=${backend}&score=${score}`);
  await page.setInputFiles('#files', [`${checkpoint}/model.safetensors`, `${checkpoint}/state.json`, ...images]);
  await page.waitForFunction(() => ['done', 'error'].includes(window.partialnet.state), undefined, { timeout: 300_000 });
  const state = await page.evaluate(() => window.partialnet);
  if (state.state === 'error') throw new Error(state.error);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`${out}: ${state.results.map((r) => `${r.name} ${r.detections?.length ?? 0} detections ${r.ms.toFixed(0)} ms`).join(', ')} on ${state.backend.name}`);
} finally {
  await browser.close();
  server.close();
}
