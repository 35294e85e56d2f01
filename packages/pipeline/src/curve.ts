import { readFile, writeFile } from 'node:fs/promises';
import { drawText, labelColor, type Color } from '@partialnet/data/internals';
import { encodeImage, type RgbImage } from '@partialnet/data';

/** One line of a chart. */
export interface CurveSeries {
  name: string;
  xs: number[];
  ys: number[];
}

export interface TrainingCurves {
  /** Loss terms (`loss`, `loss_cls`, ...) of the train records, by iteration. */
  losses: CurveSeries[];
  /** `bbox_mAP`, `segm_mAP` (and their AP50) of the eval records, by iteration. */
  metrics: CurveSeries[];
}

/**
 * The curves of a `log.jsonl`. A resumed run logs the iterations after its checkpoint twice; the
 * later record of an iteration wins. Lines that are not JSON (a crash mid-write) are skipped.
 */
export function curvesFromLog(text: string): TrainingCurves {
  const train = new Map<number, Record<string, unknown>>();
  const evals = new Map<number, Record<string, unknown>>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (typeof r.iter !== 'number') continue;
    if (r.type === 'train') train.set(r.iter, r);
    else if (r.type === 'eval') evals.set(r.iter, r);
  }
  const series = (records: Map<number, Record<string, unknown>>, keep: (key: string) => boolean): CurveSeries[] => {
    const iters = [...records.keys()].sort((a, b) => a - b);
    const names = new Set<string>();
    for (const r of records.values()) for (const [k, v] of Object.entries(r)) if (keep(k) && typeof v === 'number' && Number.isFinite(v)) names.add(k);
    // The total first, then its terms in a stable order.
    const ordered = [...names].sort((a, b) => (a === 'loss' ? -1 : b === 'loss' ? 1 : a.localeCompare(b)));
    return ordered.map((name) => {
      const s: CurveSeries = { name, xs: [], ys: [] };
      for (const it of iters) {
        const v = records.get(it)![name];
        if (typeof v === 'number' && Number.isFinite(v) && v >= 0) {
          s.xs.push(it);
          s.ys.push(v);
        }
      }
      return s;
    });
  };
  return {
    losses: series(train, (k) => k === 'loss' || k.startsWith('loss_')),
    metrics: series(evals, (k) => /^((bbox|segm)_mAP(_50)?|mIoU)$/.test(k)),
  };
}

// ---- drawing -----------------------------------------------------------------------------------

const BG: Color = [255, 255, 255];
const AXIS: Color = [40, 40, 40];
const GRID: Color = [225, 225, 225];
const TEXT: Color = [20, 20, 20];
const CHAR_W = 6;

function px(img: RgbImage, x: number, y: number, c: Color): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  const o = (y * img.width + x) * 3;
  img.data[o] = c[0];
  img.data[o + 1] = c[1];
  img.data[o + 2] = c[2];
}

function line(img: RgbImage, x0: number, y0: number, x1: number, y1: number, c: Color, thick = 1): void {
  const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
  const r = Math.floor((thick - 1) / 2);
  for (let s = 0; s <= steps; s++) {
    const x = Math.round(x0 + ((x1 - x0) * s) / steps);
    const y = Math.round(y0 + ((y1 - y0) * s) / steps);
    for (let dy = -r; dy < thick - r; dy++) for (let dx = -r; dx < thick - r; dx++) px(img, x + dx, y + dy, c);
  }
}

/**
 * Ticks at multiples of 1, 2 or 5 times a power of ten inside [lo, hi]; with `cover`, the last tick
 * is at or above hi (an axis that must hold every value).
 */
export function niceTicks(lo: number, hi: number, target = 5, cover = false): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const first = Math.ceil(lo / step - 1e-9);
  const last = cover ? Math.ceil(hi / step - 1e-9) : Math.floor(hi / step + 1e-9);
  const out: number[] = [];
  // Rounded to the step's decimals so that labels read 0.3, not 0.30000000000000004.
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  for (let k = first; k <= last; k++) out.push(+(k * step).toFixed(digits));
  return out;
}

function tickLabel(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 10000) return `${+(v / 1000).toFixed(1)}K`;
  if (a >= 1) return String(+v.toFixed(2));
  return String(+v.toPrecision(2));
}

interface Panel {
  x: number;
  y: number;
  w: number;
  h: number;
}

function drawPanel(img: RgbImage, p: Panel, title: string, series: CurveSeries[], xRange: [number, number], yMax?: number): void {
  const left = p.x + 48;
  const right = p.x + p.w - 12;
  const top = p.y + 24;
  const bottom = p.y + p.h - 32;
  drawText(img, title, p.x + Math.round((p.w - title.length * CHAR_W) / 2), p.y + 6, TEXT, null);
  const xs = series.flatMap((s) => s.xs);
  const ys = series.flatMap((s) => s.ys);
  if (xs.length === 0) {
    drawText(img, 'NO DATA', Math.round((left + right) / 2) - 21, Math.round((top + bottom) / 2), TEXT, null);
    return;
  }
  const [x0, x1] = xRange;
  const yTicks = niceTicks(0, yMax ?? Math.max(...ys, 1e-6), 5, true);
  const y1 = yTicks[yTicks.length - 1]!;
  const xTicks = niceTicks(x0, x1).filter((t) => t >= x0 && t <= x1);
  const sx = (v: number) => Math.round(left + ((v - x0) / (x1 - x0)) * (right - left));
  const sy = (v: number) => Math.round(bottom - (v / y1) * (bottom - top));
  for (const t of yTicks) {
    line(img, left + 1, sy(t), right, sy(t), GRID);
    line(img, left - 4, sy(t), left, sy(t), AXIS);
    const label = tickLabel(t);
    drawText(img, label, left - 7 - label.length * CHAR_W, sy(t) - 3, TEXT, null);
  }
  for (const t of xTicks) {
    line(img, sx(t), bottom, sx(t), bottom + 4, AXIS);
    const label = tickLabel(t);
    drawText(img, label, sx(t) - Math.round((label.length * CHAR_W) / 2), bottom + 8, TEXT, null);
  }
  line(img, left, top, left, bottom, AXIS);
  line(img, left, bottom, right, bottom, AXIS);
  drawText(img, 'ITERATION', Math.round((left + right) / 2) - 27, bottom + 20, TEXT, null);
  series.forEach((s, k) => {
    const c = labelColor(k === 0 && s.name === 'loss' ? 11 : k);
    const thick = s.name === 'loss' ? 3 : 2;
    for (let i = 1; i < s.xs.length; i++) line(img, sx(s.xs[i - 1]!), sy(s.ys[i - 1]!), sx(s.xs[i]!), sy(s.ys[i]!), c, thick);
    if (s.xs.length === 1 || s.xs.length < 12) for (let i = 0; i < s.xs.length; i++) line(img, sx(s.xs[i]!) - 2, sy(s.ys[i]!), sx(s.xs[i]!) + 2, sy(s.ys[i]!), c, 5);
  });
  // Legend in the corner that hides the fewest line samples, on a white box.
  const width = Math.max(...series.map((s) => s.name.length)) * CHAR_W + 22;
  const height = series.length * 11 + 3;
  const samples: [number, number][] = [];
  for (const s of series) {
    for (let i = 0; i < s.xs.length; i++) {
      const [ax, ay] = [sx(s.xs[i]!), sy(s.ys[i]!)];
      const [bx, by] = i + 1 < s.xs.length ? [sx(s.xs[i + 1]!), sy(s.ys[i + 1]!)] : [ax, ay];
      for (let t = 0; t < 16; t++) samples.push([ax + ((bx - ax) * t) / 16, ay + ((by - ay) * t) / 16]);
    }
  }
  const corners: [number, number][] = [
    [right - width - 4, top + 2],
    [left + 10, top + 2],
    [right - width - 4, bottom - height - 4],
    [left + 10, bottom - height - 4],
  ];
  const hidden = ([cx, cy]: [number, number]) => samples.filter(([x, y]) => x >= cx - 6 && x <= cx + width + 2 && y >= cy - 2 && y <= cy + height + 2).length;
  const [lx0, ly0] = corners.reduce((best, c) => (hidden(c) < hidden(best) ? c : best));
  const lx = lx0 + 4;
  const ly1 = ly0 + height;
  for (let yy = ly0; yy <= ly1; yy++) for (let xx = lx - 4; xx <= lx + width; xx++) px(img, xx, yy, BG);
  line(img, lx - 4, ly0, lx + width, ly0, GRID);
  line(img, lx - 4, ly1, lx + width, ly1, GRID);
  line(img, lx - 4, ly0, lx - 4, ly1, GRID);
  line(img, lx + width, ly0, lx + width, ly1, GRID);
  series.forEach((s, k) => {
    const y = ly0 + 3 + k * 11;
    const c = labelColor(k === 0 && s.name === 'loss' ? 11 : k);
    line(img, lx, y + 3, lx + 12, y + 3, c, 3);
    drawText(img, s.name, lx + 17, y, TEXT, null);
  });
}

/** The curves as a picture: losses on the left, val AP on the right (when the run evaluated). */
export function renderTrainingCurves(curves: TrainingCurves): RgbImage {
  const panelW = 520;
  const h = 360;
  const panels = curves.metrics.length > 0 ? 2 : 1;
  const img: RgbImage = { data: new Uint8Array(panelW * panels * h * 3).fill(255), width: panelW * panels, height: h };
  // One iteration axis for both panels, so a single end-of-run evaluation sits at the right end.
  const xs = [...curves.losses, ...curves.metrics].flatMap((s) => s.xs);
  const x0 = xs.length ? Math.min(...xs) : 0;
  const xRange: [number, number] = [x0, Math.max(...xs, x0 + 1)];
  drawPanel(img, { x: 0, y: 0, w: panelW, h }, 'TRAINING LOSS', curves.losses, xRange);
  if (panels === 2) drawPanel(img, { x: panelW, y: 0, w: panelW, h }, 'VAL AP', curves.metrics, xRange, Math.min(1, Math.max(...curves.metrics.flatMap((s) => s.ys), 0.1)));
  return img;
}

/** Reads `logPath` (a run's log.jsonl) and writes the loss / AP curves as a PNG to `pngPath`. */
export async function writeTrainingCurve(logPath: string, pngPath: string): Promise<TrainingCurves> {
  let text: string;
  try {
    text = await readFile(logPath, 'utf8');
  } catch (err) {
    throw new Error(`${logPath}: cannot read the training log (${(err as Error).message})`);
  }
  const curves = curvesFromLog(text);
  await writeFile(pngPath, await encodeImage(renderTrainingCurves(curves), 'png'));
  return curves;
}
