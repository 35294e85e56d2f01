import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostTensor, type StateDict } from '../src/host-tensor.js';
import { loadSafetensors, serializeSafetensors } from '../src/io/safetensors.js';
import * as browserPlatform from '../src/platform/browser.js';
import * as nodePlatform from '../src/platform/node.js';
import * as browserBackend from '../src/runtime/backend.browser.js';
import * as nodeBackend from '../src/runtime/backend.js';

const dict: StateDict = new Map([
  ['a.weight', hostTensor(new Float32Array([1, -2.5, 3, 4e-7]), [2, 2])],
  ['b.bias', hostTensor(new Float32Array([0.5]), [1])],
]);
const bytes = serializeSafetensors(dict);

function expectSame(got: StateDict): void {
  expect([...got.keys()].sort()).toEqual(['a.weight', 'b.bias']);
  expect(Array.from(got.get('a.weight')!.data)).toEqual(Array.from(dict.get('a.weight')!.data));
  expect(got.get('a.weight')!.shape).toEqual([2, 2]);
}

describe('loadSafetensors takes bytes, URLs and paths', () => {
  let dir = '';
  let file = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pn-sources-'));
    file = path.join(dir, 'w.safetensors');
    await writeFile(file, bytes);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('from a Uint8Array, an ArrayBuffer and a Blob (a dropped file) the tensors equal the saved ones', async () => {
    expectSame(await loadSafetensors(bytes));
    expectSame(await loadSafetensors(bytes.slice().buffer));
    expectSame(await loadSafetensors(new Blob([bytes.slice()])));
  });

  it('from a path, a file: URL and a data: URL (fetched)', async () => {
    expectSame(await loadSafetensors(file));
    expectSame(await loadSafetensors(pathToFileURL(file)));
    expectSame(await loadSafetensors(`data:application/octet-stream;base64,${Buffer.from(bytes).toString('base64')}`));
  });

  it('names the source when it cannot be read', async () => {
    await expect(loadSafetensors(path.join(dir, 'missing.safetensors'))).rejects.toThrow(/missing\.safetensors: cannot read/);
  });
});

describe('the browser builds have the Node builds\' API', () => {
  it('backend.browser.ts exports the same names as backend.ts', () => {
    expect(Object.keys(browserBackend).sort()).toEqual(Object.keys(nodeBackend).sort());
  });

  it('platform/browser.ts exports the same names as platform/node.ts, and its file calls say what to do instead', async () => {
    expect(Object.keys(browserPlatform).sort()).toEqual(Object.keys(nodePlatform).sort());
    expect(() => browserPlatform.readdirSync('x')).toThrow(/need Node\.js; in a browser load weights from bytes/);
  });

  it('the browser backend refuses tfjs-node with the reason (no Node addon in a page)', async () => {
    const probes = await browserBackend.listBackends();
    const node = probes.find((p) => p.name === 'tfjs-node')!;
    expect(node.available).toBe(false);
    expect(node.reason).toMatch(/not available in a browser/);
    expect(probes.find((p) => p.name === 'cpu')!.available).toBe(true);
  });
});
