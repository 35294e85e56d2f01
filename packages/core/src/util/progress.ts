/** What a progress bar writes to: a terminal gets one redrawn line, anything else a log line now and then. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Items in the whole loop; omit when unknown (no percent or ETA then). */
  total?: number;
  label?: string;
  /** Unit for the rate, e.g. 'img' gives 'img/s'. */
  unit?: string;
  /** Default: process.stderr, so that stdout stays clean for JSON output. */
  stream?: ProgressStream;
  /** Minimum time between terminal redraws (default 100 ms). */
  redrawMs?: number;
  /** Time between log lines when not on a terminal (default 10 s). */
  logEverySec?: number;
  /** Force terminal or log mode instead of asking the stream. */
  tty?: boolean;
  /** Clock in ms, for tests. */
  now?: () => number;
}

export type ProgressFields = Record<string, string | number>;

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${m}:${ss}`;
}

function formatField(value: string | number): string {
  if (typeof value === 'string') return value;
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 1e-3 || abs >= 1e5) ? value.toExponential(3) : value.toPrecision(4);
}

/**
 * A progress display for long loops (training, evaluation, data conversion):
 * `label  45% [=========>          ] 450/1000  12.3 it/s  eta 0:44  loss=0.3412 lr=1.000e-4`.
 */
export class Progress {
  private readonly total: number | undefined;
  private readonly label: string;
  private readonly unit: string;
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly redrawMs: number;
  private readonly logEveryMs: number;
  private readonly now: () => number;
  private readonly start: number;
  private count = 0;
  private fields: ProgressFields = {};
  private lastDraw = -Infinity;
  private lastLog: number;
  private finished = false;

  constructor(options: ProgressOptions = {}) {
    this.total = options.total !== undefined && options.total > 0 ? options.total : undefined;
    this.label = options.label ?? '';
    this.unit = options.unit ?? 'it';
    this.stream = options.stream ?? ((globalThis.process?.stderr ?? { write: () => true }) as ProgressStream);
    this.tty = options.tty ?? Boolean(this.stream.isTTY);
    this.redrawMs = options.redrawMs ?? 100;
    this.logEveryMs = (options.logEverySec ?? 10) * 1000;
    this.now = options.now ?? (() => performance.now());
    this.start = this.now();
    this.lastLog = this.start;
  }

  /** Advances by `n` items and merges `fields` (shown as key=value). */
  tick(n = 1, fields?: ProgressFields): void {
    this.count += n;
    if (fields) this.fields = { ...this.fields, ...fields };
    const t = this.now();
    if (this.tty) {
      if (t - this.lastDraw >= this.redrawMs || this.count === this.total) {
        this.lastDraw = t;
        this.draw(this.line(t));
      }
    } else if (t - this.lastLog >= this.logEveryMs) {
      this.lastLog = t;
      this.stream.write(this.line(t) + '\n');
    }
  }

  /** Replaces the displayed fields without advancing. */
  set(fields: ProgressFields): void {
    this.fields = { ...this.fields, ...fields };
  }

  /** Prints the final state and ends the line; later calls do nothing. */
  done(fields?: ProgressFields): void {
    if (this.finished) return;
    this.finished = true;
    if (fields) this.fields = { ...this.fields, ...fields };
    const line = this.line(this.now());
    if (this.tty) this.draw(line);
    else this.stream.write(line);
    this.stream.write('\n');
  }

  get elapsedSec(): number {
    return (this.now() - this.start) / 1000;
  }

  /** Items per second so far. */
  get rate(): number {
    const s = this.elapsedSec;
    return s > 0 ? this.count / s : 0;
  }

  private draw(line: string): void {
    const width = this.stream.columns ?? 120;
    // \r + clear-to-end-of-line: a shorter line must not leave the tail of the previous one.
    this.stream.write(`\r${line.length > width - 1 ? line.slice(0, width - 1) : line}\x1b[K`);
  }

  /** The status line at time t (exposed for tests and custom sinks). */
  line(t = this.now()): string {
    const elapsed = (t - this.start) / 1000;
    const rate = elapsed > 0 ? this.count / elapsed : 0;
    const parts: string[] = [];
    if (this.label) parts.push(this.label);
    if (this.total !== undefined) {
      const frac = Math.min(this.count / this.total, 1);
      const barWidth = 20;
      const filled = Math.round(frac * barWidth);
      const bar = '='.repeat(Math.max(filled - 1, 0)) + (filled > 0 ? (frac >= 1 ? '=' : '>') : '') + ' '.repeat(barWidth - filled);
      parts.push(`${(frac * 100).toFixed(0).padStart(3)}% [${bar}] ${this.count}/${this.total}`);
    } else {
      parts.push(`${this.count}`);
    }
    parts.push(rate >= 1 || rate === 0 ? `${rate.toFixed(1)} ${this.unit}/s` : `${(1 / rate).toFixed(2)} s/${this.unit}`);
    if (this.total !== undefined) {
      const remaining = rate > 0 ? (this.total - this.count) / rate : Infinity;
      parts.push(this.count >= this.total ? `took ${formatDuration(elapsed)}` : `eta ${formatDuration(remaining)}`);
    } else {
      parts.push(`elapsed ${formatDuration(elapsed)}`);
    }
    const fields = Object.entries(this.fields).map(([k, v]) => `${k}=${formatField(v)}`);
    if (fields.length > 0) parts.push(fields.join(' '));
    return parts.join('  ');
  }
}
