/**
 * The browser side of `#platform` (see node.ts): the same exports. File system calls throw a clear
 * error (a page has no file paths: pass bytes or a URL instead); `readBytes` fetches a URL.
 */
import { fetchBytes } from '../io/fetch-bytes.js';
import type * as NodePlatform from './node.js';

function nodeOnly(name: string): never {
  throw new Error(
    `${name}: file system and package access need Node.js; in a browser load weights from bytes (ArrayBuffer / Uint8Array) or a URL`,
  );
}

const stub = <K extends keyof typeof NodePlatform>(name: K) =>
  ((..._args: unknown[]) => nodeOnly(name)) as unknown as (typeof NodePlatform)[K];

export const appendFileSync = stub('appendFileSync');
export const existsSync = stub('existsSync');
export const mkdirSync = stub('mkdirSync');
export const readdirSync = stub('readdirSync');
export const mkdir = stub('mkdir');
export const open = stub('open');
export const createRequire = stub('createRequire');
export const dirname = stub('dirname');
export const readFile = stub('readFile');
export const readdir = stub('readdir');
export const rename = stub('rename');
export const rm = stub('rm');
export const unlink = stub('unlink');
export const writeFile = stub('writeFile');
export const join = stub('join');
export const access = stub('access');
export const extname = stub('extname');
/** Deflated zip entries (rare in torch.save files, which store entries) need Node's zlib. */
export const inflateRawSync = stub('inflateRawSync');

/** Logical processors of this machine, as the browser reports them. */
export const availableParallelism: typeof NodePlatform.availableParallelism = () =>
  (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;

export const PLATFORM: 'node' | 'browser' = 'browser';

/** In a browser a "path" is a URL (relative ones against the page): fetched. */
export const readBytes: (url: string | URL) => Promise<Uint8Array> = fetchBytes;
