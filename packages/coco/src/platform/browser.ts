/** The browser side of `#platform` (see node.ts): reading files by path needs Node.js. */
import type * as NodePlatform from './node.js';

export const open = ((path: string) => {
  throw new Error(`${path}: reading files needs Node.js; in a browser pass the parsed JSON or its text instead`);
}) as unknown as typeof NodePlatform.open;

/** The last segment of a path or URL (used for labels in messages). */
export const basename: typeof NodePlatform.basename = (path: string) => path.split(/[\\/]/).pop() ?? path;

/** The first index of byte `value` in b at or after `from`, or -1. */
export const indexOfByte: typeof NodePlatform.indexOfByte = (b, value, from) => b.indexOf(value, from);
