import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Absolute path of a file under test/fixtures (pycocotools' answers, copied into the repository). */
export function fixturePath(rel: string): string {
  return fileURLToPath(new URL(`./fixtures/${rel}`, import.meta.url));
}

export function readFixture<T = any>(rel: string): T {
  return JSON.parse(readFileSync(fixturePath(rel), 'utf8')) as T;
}

/** Rows of '0'/'1' strings (rows[y][x]) to a column-major mask. */
export function rowsToMask(rows: string[]): { mask: Uint8Array; h: number; w: number } {
  const h = rows.length;
  const w = h ? rows[0]!.length : 0;
  const mask = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) mask[x * h + y] = rows[y]![x] === '1' ? 1 : 0;
  return { mask, h, w };
}

export function maskToRows(mask: Uint8Array, h: number, w: number): string[] {
  const rows: string[] = [];
  for (let y = 0; y < h; y++) {
    let s = '';
    for (let x = 0; x < w; x++) s += mask[x * h + y] ? '1' : '0';
    rows.push(s);
  }
  return rows;
}
