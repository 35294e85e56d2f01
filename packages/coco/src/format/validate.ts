/** Field checks shared by the instances and results loaders; each returns a message or null. */
import { show } from './errors.js';

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function checkFinite(v: unknown): string | null {
  return typeof v === 'number' && Number.isFinite(v) ? null : `expected a finite number, got ${show(v)}`;
}

export function checkNonNegative(v: unknown): string | null {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? null : `expected a finite number >= 0, got ${show(v)}`;
}

export function checkPositiveInt(v: unknown): string | null {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? null : `expected a positive integer, got ${show(v)}`;
}

/** [x, y, w, h]: four finite numbers with non-negative width and height. */
export function checkBox(v: unknown): string | null {
  if (!Array.isArray(v) || v.length !== 4 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    return `expected 4 finite numbers, got ${show(v)}`;
  }
  if (v[2] < 0) return `negative width ${v[2]} in ${show(v)}`;
  if (v[3] < 0) return `negative height ${v[3]} in ${show(v)}`;
  return null;
}

/** One polygon: an even count of finite numbers, at least 3 points. */
export function checkPolygon(v: unknown): string | null {
  if (!Array.isArray(v)) return `expected a polygon [x0, y0, x1, y1, ...], got ${show(v)}`;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) return `expected finite numbers, got ${show(x)} at [${i}]`;
  }
  if (v.length % 2 !== 0) return `expected an even count of numbers (x, y pairs), got ${v.length}`;
  if (v.length < 6) return `expected a polygon of at least 3 points (6 numbers), got ${v.length / 2} point${v.length === 2 ? '' : 's'} ${show(v)}`;
  return null;
}
