import { readBytes } from '#platform';
import { fetchBytes } from './fetch-bytes.js';

/**
 * Where weights come from: bytes already in memory (`ArrayBuffer`, a typed array, a `Blob` / `File`
 * such as a dropped file), a URL (`http:`, `https:`, `blob:`, `data:`, fetched), or a string: a file
 * path in Node, a URL relative to the page in a browser.
 */
export type BytesSource = string | URL | ArrayBuffer | ArrayBufferView | Blob;

const FETCHED = /^(https?|blob|data):/i;

function isBlob(source: BytesSource): source is Blob {
  return typeof Blob !== 'undefined' && source instanceof Blob;
}

/** A short name of a source for error messages. */
export function sourceLabel(source: BytesSource): string {
  if (typeof source === 'string') return source;
  if (source instanceof URL) return source.href;
  if (isBlob(source)) return (source as { name?: string }).name || '<blob>';
  return '<buffer>';
}

/** The bytes of a source (views share memory with what they were given). */
export async function readSource(source: BytesSource): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (isBlob(source)) return new Uint8Array(await source.arrayBuffer());
  const href = source instanceof URL ? source.href : source;
  if (FETCHED.test(href)) return fetchBytes(href);
  return readBytes(source instanceof URL ? source : href);
}
