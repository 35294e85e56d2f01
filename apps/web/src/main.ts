import { setupBackend, tf, type BackendName, type BackendReport } from '@partialnet/core';
import { colorOf, decodeImage, drawDetections } from './draw.js';
import { loadBackbone, loadRun, runModel, type LoadedModel } from './models.js';

/** What the page has computed, for scripts and tests (`window.partialnet`). */
interface PageResult {
  name: string;
  backend: string;
  ms: number;
  detections?: { box: number[]; label: number; className: string; score: number }[];
  top?: { index: number; prob: number }[];
  features?: { stride: number; shape: number[] }[];
}
interface PageState {
  state: 'loading' | 'idle' | 'running' | 'done' | 'error';
  backend?: BackendReport;
  model?: string;
  results: PageResult[];
  error?: string;
}
const page: PageState = { state: 'loading', results: [] };
(window as unknown as { partialnet: PageState }).partialnet = page;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const statusEl = $<HTMLParagraphElement>('status');
const backendEl = $<HTMLSelectElement>('backend');
const scoreEl = $<HTMLInputElement>('score');
const runEl = $<HTMLButtonElement>('run');
const resultsEl = $<HTMLElement>('results');
const dropEl = $<HTMLLabelElement>('drop');
const filesEl = $<HTMLInputElement>('files');

let weights: File | undefined;
let stateFile: File | undefined;
let images: File[] = [];
let loaded: LoadedModel | undefined;
let loadedFrom = '';

function setStatus(text: string, error = false): void {
  statusEl.textContent = text;
  statusEl.classList.toggle('error', error);
}

function backendText(r: BackendReport): string {
  const gpu = r.gpuAdapter ? ` (${[r.gpuAdapter.vendor, r.gpuAdapter.architecture, r.gpuAdapter.description].filter(Boolean).join(' ')})` : '';
  const wasm = r.wasm ? ` (SIMD ${r.wasm.simd ? 'on' : 'off'}, ${r.wasm.threads} thread${r.wasm.threads === 1 ? '' : 's'})` : '';
  return `${r.name}${gpu}${wasm}`;
}

async function chooseBackend(): Promise<void> {
  const requested = backendEl.value as BackendName | 'auto';
  page.backend = await setupBackend(requested);
  if (loaded) {
    // Weights live on the backend they were made on: rebuild on the new one.
    loaded.model.dispose();
    loaded = undefined;
    loadedFrom = '';
  }
}

function addFiles(list: Iterable<File>): void {
  for (const f of list) {
    if (f.name.endsWith('.safetensors')) weights = f;
    else if (f.name.endsWith('.json')) stateFile = f;
    else if (f.type.startsWith('image/') || /\.(png|jpe?g|webp|bmp|gif)$/i.test(f.name)) images.push(f);
  }
  void run();
}

async function ensureModel(): Promise<void> {
  if (!weights) return;
  const key = `${weights.name}:${weights.size}:${weights.lastModified}|${stateFile?.name ?? ''}:${stateFile?.size ?? ''}`;
  if (loaded && loadedFrom === key) return;
  loaded?.model.dispose();
  loaded = undefined;
  setStatus(`Loading ${weights.name}${stateFile ? ` with ${stateFile.name}` : ''}…`);
  loaded = stateFile ? await loadRun(weights, await stateFile.text(), stateFile.name) : await loadBackbone(weights);
  loadedFrom = key;
  page.model = loaded.label;
}

async function run(): Promise<void> {
  if (page.state === 'running') return;
  try {
    page.state = 'running';
    runEl.disabled = true;
    await chooseBackendIfChanged();
    await ensureModel();
    const ready = `Backend: ${backendText(page.backend!)}${loaded ? `\nModel: ${loaded.label}` : '\nDrop weights (and a state.json for a detector).'}`;
    if (!loaded || images.length === 0) {
      setStatus(`${ready}${loaded ? '\nNow drop images.' : ''}`);
      page.state = 'idle';
      return;
    }
    const minScore = Number(scoreEl.value);
    resultsEl.replaceChildren();
    page.results = [];
    for (const file of images) {
      setStatus(`${ready}\nRunning on ${file.name}…`);
      const image = await decodeImage(file);
      const out = await runModel(loaded, image, file.name);
      const card = document.createElement('article');
      card.className = 'card';
      const title = document.createElement('h3');
      title.textContent = file.name;
      const canvas = document.createElement('canvas');
      const meta = document.createElement('p');
      meta.className = 'meta';
      const list = document.createElement('ol');
      const result: PageResult = { name: file.name, backend: page.backend!.name, ms: out.ms };
      if (out.kind === 'detector' && loaded.kind === 'detector') {
        const names = loaded.info.classNames;
        drawDetections(canvas, image, out.detections, names, minScore);
        const d = out.detections;
        result.detections = [];
        for (let k = 0; k < d.scores.length; k++) {
          if (d.scores[k]! < minScore) continue;
          const det = { box: Array.from(d.boxes.subarray(4 * k, 4 * k + 4)), label: d.labels[k]!, className: names[d.labels[k]!] ?? String(d.labels[k]), score: d.scores[k]! };
          result.detections.push(det);
          const li = document.createElement('li');
          li.style.color = colorOf(det.label);
          li.textContent = `${det.className} ${det.score.toFixed(3)} [${det.box.map((v) => v.toFixed(1)).join(', ')}]`;
          list.append(li);
        }
        meta.textContent = `${result.detections.length} detection(s) with score ≥ ${minScore} · ${out.ms.toFixed(0)} ms on ${page.backend!.name}`;
      } else if (out.kind === 'backbone') {
        drawDetections(canvas, image, undefined, [], minScore);
        result.top = out.top;
        result.features = out.features;
        const names = loaded.kind === 'backbone' ? loaded.classNames : undefined;
        for (const t of out.top) list.append(Object.assign(document.createElement('li'), { textContent: `${names?.[t.index] ?? `class ${t.index}`}: ${(100 * t.prob).toFixed(1)}%` }));
        for (const f of out.features) list.append(Object.assign(document.createElement('li'), { textContent: `stride ${f.stride}: ${f.shape.join(' x ')}` }));
        meta.textContent = `${out.top.length ? 'top classes and ' : ''}feature maps (224 input) · ${out.ms.toFixed(0)} ms on ${page.backend!.name}`;
      }
      card.append(title, canvas, meta, list);
      resultsEl.append(card);
      page.results.push(result);
    }
    setStatus(`${ready}\n${images.length} image(s) done; tensors in memory: ${tf.memory().numTensors}.`);
    page.state = 'done';
  } catch (err) {
    page.state = 'error';
    page.error = err instanceof Error ? err.message : String(err);
    setStatus(page.error, true);
    console.error(err);
  } finally {
    runEl.disabled = false;
  }
}

let activeRequest = '';
async function chooseBackendIfChanged(): Promise<void> {
  if (activeRequest === backendEl.value && page.backend) return;
  await chooseBackend();
  activeRequest = backendEl.value;
}

dropEl.addEventListener('dragover', (e) => {
  e.preventDefault();
  dropEl.classList.add('over');
});
dropEl.addEventListener('dragleave', () => dropEl.classList.remove('over'));
dropEl.addEventListener('drop', (e) => {
  e.preventDefault();
  dropEl.classList.remove('over');
  if (e.dataTransfer) addFiles(e.dataTransfer.files);
});
filesEl.addEventListener('change', () => {
  if (filesEl.files) addFiles(filesEl.files);
  filesEl.value = '';
});
runEl.addEventListener('click', () => void run());
backendEl.addEventListener('change', () => void run());
scoreEl.addEventListener('change', () => void run());

// ?backend=wasm&score=0.5 preselect the backend and the score threshold (links, tests).
const params = new URLSearchParams(location.search);
const wanted = params.get('backend');
if (wanted && [...backendEl.options].some((o) => o.value === wanted)) backendEl.value = wanted;
if (params.get('score') !== null) scoreEl.value = params.get('score')!;
void run();
