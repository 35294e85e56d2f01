/**
 * What coco needs of Node.js (streaming large JSON files), reached through the `#platform` import
 * (package.json "imports"): Node gets this file, browsers and bundlers (`browser` condition)
 * `browser.ts` with the same exports, so the mask API and the evaluator bundle for a page as they are.
 */
export { open } from 'node:fs/promises';
export { basename } from 'node:path';

const bufferIndexOf = Buffer.prototype.indexOf;

/** The first index of byte `value` in b at or after `from`, or -1: Buffer's memchr, on any Uint8Array. */
export function indexOfByte(b: Uint8Array, value: number, from: number): number {
  return bufferIndexOf.call(b, value, from);
}
