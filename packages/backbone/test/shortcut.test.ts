import { afterEach, beforeAll, beforeEach, describe, expect, it as itOn } from 'vitest';
import { activation } from '@partialnet/core';
import { PartialNet, setupBackend, tf } from './deps.js';
import { TEST_BACKENDS } from './backends.js';
import { relDiff } from './compare.js';
import { bakeSplits } from '../src/index.js';
import { dpconvLayers } from '../src/dpconv-internals.js';
import type { PartialNetBlock } from '../src/layers.js';

/**
 * The official MLPBlock (models/partialnet.py) sets `split_shortcut = channel_type == "self"`, and
 * PartialNet gives every stage-4 block channel_type 'self' whatever use_channel_attn and auto_div
 * say. So a stage-4 block computes x = x + mixer(x); x = x + mlp(x) even when its mixer is a plain
 * PConv or a DGConv2d, and the other blocks x + mlp(mixer(x)) (issue 14).
 */

/** One block as the official forward computes it (eval: no drop path). */
function officialBlock(block: PartialNetBlock, x: tf.Tensor4D, stage: number): tf.Tensor4D {
  return tf.tidy(() => {
    if (stage === 3) {
      const mixed = tf.add(x, block.mixer.forward(x)) as tf.Tensor4D;
      return tf.add(mixed, block.mlp.forward(mixed)) as tf.Tensor4D;
    }
    return tf.add(x, block.mlp.forward(block.mixer.forward(x))) as tf.Tensor4D;
  });
}

/** The whole network built from its parts with the official block rule: [stage-4 map, logits]. */
function officialForward(net: PartialNet, x: tf.Tensor4D): [tf.Tensor4D, tf.Tensor2D] {
  return tf.tidy(() => {
    let y = net.patchEmbed.forward(x);
    for (let i = 0; i < 4; i++) {
      for (const block of net.stages[i]!.blocks.items) y = officialBlock(block, y, i);
      if (i < 3) y = net.merges[i]!.forward(y);
    }
    const pooled = tf.mean(y, [1, 2], true) as tf.Tensor4D;
    const feat = activation(net.config.act, net.preHead!.forward(pooled)).reshape([x.shape[0], net.config.featureDim]);
    return [net.featureNorms[3]!.forward(y), net.head!.forward(feat) as tf.Tensor2D];
  });
}

describe.each(TEST_BACKENDS)('stage-4 shortcut without channel attention on $name', ({ name, skip, small }) => {
  const it = itOn.skipIf(skip !== undefined);
  const side = small ? 32 : 64;
  let before = 0;
  beforeAll(async () => {
    if (!skip) await setupBackend(name);
  });
  beforeEach(() => {
    before = tf.memory().numTensors;
  });
  afterEach(() => {
    if (!skip) expect(tf.memory().numTensors).toBe(before);
  });

  it('a PConv network (channelAttn false) has the official names and computes the official split shortcut in stage 4', async () => {
    const net = PartialNet.create({ embedDim: 16, depths: [1, 1, 1, 2], channelAttn: false, spatialAttn: false, numClasses: 5, featureDim: 32, dropPath: 0 });
    net.eval();
    const blocks = net.stages.map((s) => s.blocks.items);
    expect(blocks.map((row) => row.map((b) => b.splitShortcut))).toEqual([[false], [false], [false], [true, true]]);
    // Names and shapes: a plain Partial_conv3 mixer (no attention branch) and the MLP, as officially.
    const names = [...net.namedParameters()].map(([n, v]) => [n, v.shape] as const).filter(([n]) => n.startsWith('stages.6.blocks.1.'));
    expect(names).toEqual([
      ['stages.6.blocks.1.spatial_mixing.partial_conv3.weight', [3, 3, 32, 32]],
      ['stages.6.blocks.1.mlp.0.weight', [1, 1, 128, 256]],
      ['stages.6.blocks.1.mlp.1.weight', [256]],
      ['stages.6.blocks.1.mlp.1.bias', [256]],
      ['stages.6.blocks.1.mlp.3.weight', [1, 1, 256, 128]],
    ]);
    // In PyTorch layout (OIHW) as the official state dict has them.
    const dict = await net.stateDict();
    expect(dict.get('stages.6.blocks.1.spatial_mixing.partial_conv3.weight')!.shape).toEqual([32, 32, 3, 3]);
    expect([...dict.keys()].filter((k) => k.startsWith('stages.6.blocks.0.spatial_mixing.'))).toEqual(['stages.6.blocks.0.spatial_mixing.partial_conv3.weight']);

    const x = tf.randomNormal([2, side, side, 3], 0, 1, 'float32', 41) as tf.Tensor4D;
    const [map, logits] = officialForward(net, x);
    const feats = net.features(x);
    const out = net.forward(x);
    expect(await relDiff(feats[3]!, map)).toBeLessThan(1e-4);
    expect(await relDiff(out, logits)).toBeLessThan(1e-4);
    // The plain shortcut (what this code did before) is far from it: the test can tell them apart.
    const plain = tf.tidy(() => {
      const y = net.stages[3]!.blocks.items[1]!;
      const inp = tf.randomNormal([1, 4, 4, 128], 0, 1, 'float32', 42) as tf.Tensor4D;
      return tf.sub(y.forward(inp), tf.add(inp, y.mlp.forward(y.mixer.forward(inp))));
    });
    const gap = tf.tidy(() => tf.max(tf.abs(plain)));
    expect((await gap.data())[0]).toBeGreaterThan(0.1);
    tf.dispose([x, map, logits, ...feats, out, plain, gap]);
    net.dispose();
  });

  it('a DPConv network without channel attention keeps the split shortcut in stage 4', async () => {
    const net = PartialNet.create({ embedDim: 8, depths: [1, 1, 1, 1], channelAttn: false, spatialAttn: false, numClasses: 3, featureDim: 16, autoDiv: true, dropPath: 0 });
    expect(net.stages.map((s) => s.blocks.items[0]!.splitShortcut)).toEqual([false, false, false, true]);
    net.eval();
    const x = tf.randomNormal([1, side, side, 3], 0, 1, 'float32', 43) as tf.Tensor4D;
    const [map, logits] = officialForward(net, x);
    const feats = net.features(x);
    const out = net.forward(x);
    expect(await relDiff(feats[3]!, map)).toBeLessThan(1e-4);
    expect(await relDiff(out, logits)).toBeLessThan(1e-4);
    expect(dpconvLayers(net)).toHaveLength(4);
    tf.dispose([x, map, logits, ...feats, out]);
    net.dispose();
  });

  itOn.skipIf(skip !== undefined)('bakeSplits of such a DPConv network inherits the stage-4 split shortcut', async () => {
    const net = PartialNet.create({ embedDim: 8, depths: [1, 1, 1, 1], channelAttn: false, spatialAttn: false, numClasses: 3, featureDim: 16, autoDiv: true, dropPath: 0 });
    net.eval();
    const x = tf.randomNormal([1, side, side, 3], 0, 1, 'float32', 44) as tf.Tensor4D;
    const baked = await bakeSplits(net);
    expect(baked.stages.map((s) => s.blocks.items[0]!.splitShortcut)).toEqual([false, false, false, true]);
    const [bMap, bLogits] = officialForward(baked, x);
    const [fa, fb] = [net.features(x), baked.features(x)];
    const a = net.forward(x);
    const b = baked.forward(x);
    expect(await relDiff(fb[3]!, bMap)).toBeLessThan(1e-4);
    expect(await relDiff(b, bLogits)).toBeLessThan(1e-4);
    expect(await relDiff(fa[3]!, fb[3]!)).toBeLessThan(1e-4);
    expect(await relDiff(a, b)).toBeLessThan(1e-4);
    tf.dispose([x, bMap, bLogits, ...fa, ...fb, a, b]);
    baked.dispose();
    net.dispose();
  });
});
