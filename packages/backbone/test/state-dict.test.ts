import { copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it as itOn } from 'vitest';
import { PartialNet, loadSafetensors, saveSafetensors, setupBackend, tf } from './deps.js';
import { configFromMeta, fixturePath, readMeta, requireFixtures } from './fixtures.js';
import { TEST_BACKENDS } from './backends.js';

const TINY = 'tiny-gelu-sp-64x64';

describe.each(TEST_BACKENDS)('state dicts and bad input on $name', ({ name: backend, skip }) => {
  const it = itOn.skipIf(skip !== undefined);
  let dir: string;
  beforeAll(async () => {
    requireFixtures();
    if (!skip) await setupBackend(backend);
    dir = mkdtempSync(join(tmpdir(), 'partialnet-sd-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('save -> load round trip is bit exact and names match PyTorch', async () => {
    const before = tf.memory().numTensors;
    const source = await loadSafetensors(fixturePath(TINY, 'weights.safetensors'));
    const net = PartialNet.create(configFromMeta(readMeta(TINY)));
    net.loadStateDict(source);
    const out = join(dir, 'round.safetensors');
    await saveSafetensors(await net.stateDict(), out);
    const again = await loadSafetensors(out);
    expect([...again.keys()].sort()).toEqual([...source.keys()].sort());
    for (const [name, t] of source) {
      const u = again.get(name)!;
      expect(u.shape, name).toEqual(t.shape);
      expect(Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), name).toBe(true);
    }
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('accepts classification-only and features-only checkpoints', async () => {
    const full = await loadSafetensors(fixturePath(TINY, 'weights.safetensors'));
    const net = PartialNet.create(configFromMeta(readMeta(TINY)));
    const clsOnly = new Map([...full].filter(([n]) => !/^norm[0246]\./.test(n)));
    expect(net.loadStateDict(clsOnly).missing.filter((n) => n.startsWith('norm')).length).toBe(16);
    const featOnly = new Map([...full].filter(([n]) => !/^(head|avgpool_pre_head)\./.test(n)));
    expect(net.loadStateDict(featOnly).missing).toEqual(['avgpool_pre_head.1.weight', 'head.weight', 'head.bias']);
    // Missing part of a group is an error, not a silent partial load.
    const partial = new Map([...full].filter(([n]) => n !== 'norm2.weight'));
    expect(() => net.loadStateDict(partial)).toThrow(/missing \(1\): norm2\.weight/);
    net.dispose();
  });

  it('weights of another variant fail with the mismatching names', async () => {
    const dict = await loadSafetensors(fixturePath(TINY, 'weights.safetensors'));
    const t0 = PartialNet.create('t0', { numClasses: 10, featureDim: 64 });
    const before = (await t0.stateDict()).get('patch_embed.proj.weight')!.data.slice();
    expect(() => t0.loadStateDict(dict)).toThrow(/wrong shape .*\n.*patch_embed\.proj\.weight: expected \[32, 3, 4, 4\], got \[16, 3, 4, 4\]/s);
    expect(() => t0.loadStateDict(dict)).toThrow(/another variant/);
    // Nothing was half-loaded.
    expect((await t0.stateDict()).get('patch_embed.proj.weight')!.data).toEqual(before);
    t0.dispose();
  });

  it('a truncated or corrupt safetensors file is an error naming the file', async () => {
    const truncated = join(dir, 'truncated.safetensors');
    copyFileSync(fixturePath(TINY, 'weights.safetensors'), truncated);
    truncateSync(truncated, 5000);
    await expect(loadSafetensors(truncated)).rejects.toThrow(/truncated\.safetensors/);
    const garbage = join(dir, 'garbage.safetensors');
    writeFileSync(garbage, Buffer.concat([Buffer.from([16, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('not json at all!')]));
    await expect(loadSafetensors(garbage)).rejects.toThrow(/garbage\.safetensors/);
    expect(readFileSync(garbage).length).toBe(24);
  });

  it('bad input tensors are rejected with what was expected', () => {
    const net = PartialNet.create({ embedDim: 16, depths: [1, 1, 1, 1], numClasses: 3, featureDim: 16 });
    net.eval();
    const cases: [number[], RegExp][] = [
      [[64, 64, 3], /expected an NHWC tensor \[B, H, W, 3\], got rank 3/],
      [[1, 3, 64, 64], /expected 3 channels .*NCHW\? transpose to NHWC/],
      [[1, 64, 64, 1], /expected 3 channels/],
      [[1, 16, 64, 3], /at least 32, got 16x64/],
    ];
    for (const [shape, message] of cases) {
      const x = tf.zeros(shape);
      expect(() => net.forward(x)).toThrow(message);
      expect(() => net.features(x)).toThrow(message);
      x.dispose();
    }
    net.dispose();
  });
});
