// Worker entry used when the package runs from its TypeScript sources (vitest, `@partialnet/source`):
// registers a tiny TypeScript-stripping loader, then imports the real worker module named in
// workerData.entry. Built code (dist/) never uses this file: it starts dist/worker.js directly.
import { register } from 'node:module';
import { workerData } from 'node:worker_threads';

register('./ts-loader.mjs', import.meta.url);
await import(workerData.__entry);
