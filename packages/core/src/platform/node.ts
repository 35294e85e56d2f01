/**
 * What core needs of Node.js, reached through the `#platform` import (package.json "imports"):
 * Node resolves it to this file, browsers and bundlers (the `browser` condition) to
 * `browser.ts`, which has the same exports. Core's other modules never import `node:*` themselves,
 * so the model code bundles for a browser as it is.
 */
import { readFile } from 'node:fs/promises';

export { appendFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
export { access, mkdir, open, readFile, readdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
export { createRequire } from 'node:module';
export { availableParallelism } from 'node:os';
export { dirname, extname, join } from 'node:path';
export { inflateRawSync } from 'node:zlib';

/** The platform this build of core is for. */
export const PLATFORM: 'node' | 'browser' = 'node';

/** Bytes of a file: a path or a `file:` URL (in a browser the same name fetches a URL). */
export async function readBytes(path: string | URL): Promise<Uint8Array> {
  return readFile(path);
}
