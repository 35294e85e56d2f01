import { beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm2d, Conv2d, LayerNorm2d, Linear, Module, ModuleList, hostTensor, permuteHost, setupBackend, tf } from '../src/index.js';

class Tiny extends Module {
  readonly conv = this.addChild('conv', new Conv2d(2, 3, { kernelSize: [1, 2] }));
  readonly layers = this.addChild('layers', new ModuleList<Module>());
  constructor() {
    super();
    this.layers.push(new BatchNorm2d(3));
    this.layers.set(2, new Linear(3, 4));
  }
}

describe('Module', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('permuteHost matches tf.transpose', () => {
    const data = Float32Array.from({ length: 2 * 3 * 4 * 5 }, (_, i) => i);
    const perm = [3, 1, 0, 2];
    const ours = permuteHost(hostTensor(data, [2, 3, 4, 5]), perm);
    const theirs = tf.tidy(() => tf.tensor4d(data, [2, 3, 4, 5]).transpose(perm).dataSync());
    expect(ours.shape).toEqual([5, 3, 2, 4]);
    expect(Array.from(ours.data)).toEqual(Array.from(theirs));
  });

  it('names, shapes and layouts of the state dict follow PyTorch', async () => {
    const m = new Tiny();
    const sd = await m.stateDict();
    expect([...sd.keys()]).toEqual([
      'conv.weight',
      'layers.0.weight',
      'layers.0.bias',
      'layers.0.running_mean',
      'layers.0.running_var',
      'layers.2.weight',
      'layers.2.bias',
    ]);
    expect(sd.get('conv.weight')!.shape).toEqual([3, 2, 1, 2]); // OIHW
    expect(sd.get('layers.2.weight')!.shape).toEqual([4, 3]); // [out, in]
    // OIHW value (o=2, i=1, h=0, w=1) is HWIO (0, 1, 1, 2).
    const hwio = m.conv.weight.arraySync() as number[][][][];
    expect(sd.get('conv.weight')!.data[((2 * 2 + 1) * 1 + 0) * 2 + 1]).toBe(hwio[0]![1]![1]![2]);
    expect(m.numParameters()).toBe(12 + 3 + 3 + 12 + 4);
    m.dispose();
  });

  it('loadStateDict reverses stateDict and reports problems', async () => {
    const a = new Tiny();
    const b = new Tiny();
    const before = tf.memory().numTensors;
    b.loadStateDict(await a.stateDict());
    expect(Array.from(b.conv.weight.dataSync())).toEqual(Array.from(a.conv.weight.dataSync()));
    expect(Array.from((await b.layers.items[1]!.stateDict()).get('weight')!.data)).toEqual(Array.from((await a.layers.items[1]!.stateDict()).get('weight')!.data));
    const sd = await a.stateDict();
    sd.set('layers.0.num_batches_tracked', hostTensor(new Int32Array([5]), []));
    expect(b.loadStateDict(sd).unexpected).toEqual([]);
    sd.delete('layers.0.bias');
    sd.set('extra.weight', hostTensor(new Float32Array(1), [1]));
    sd.set('conv.weight', hostTensor(new Float32Array(6), [3, 2, 1, 1]));
    expect(() => b.loadStateDict(sd)).toThrow(/missing \(1\): layers\.0\.bias[\s\S]*unexpected \(1\): extra\.weight[\s\S]*conv\.weight: expected \[3, 2, 1, 2\], got \[3, 2, 1, 1\]/);
    const loose = b.loadStateDict(sd, { strict: false });
    expect(loose).toEqual({ missing: ['layers.0.bias'], unexpected: ['extra.weight'], mismatched: [{ name: 'conv.weight', expected: [3, 2, 1, 2], got: [3, 2, 1, 1] }] });
    expect(tf.memory().numTensors).toBe(before);
    a.dispose();
    b.dispose();
  });

  it('train() and eval() reach every descendant', () => {
    const m = new Tiny();
    m.eval();
    expect([...m.namedModules()].every(([, c]) => !c.isTraining)).toBe(true);
    m.train();
    expect([...m.namedModules()].every(([, c]) => c.isTraining)).toBe(true);
    m.dispose();
  });
});

describe('normalisation layers', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('BatchNorm2d trains with batch statistics and updates running ones like PyTorch', () => {
    const bn = new BatchNorm2d(2);
    const before = tf.memory().numTensors;
    // Channel 0: values 1..4, channel 1: 2, 4, 6, 8 over N=1, H=2, W=2.
    const x = tf.tensor4d([1, 2, 2, 4, 3, 6, 4, 8], [1, 2, 2, 2]);
    const y = bn.forward(x);
    const mean0 = 2.5;
    const var0 = 1.25; // biased, used to normalise
    expect(y.dataSync()[0]).toBeCloseTo((1 - mean0) / Math.sqrt(var0 + 1e-5), 5);
    // Running stats use the unbiased variance 5/3 and momentum 0.1.
    expect(bn.runningMean.dataSync()[0]).toBeCloseTo(0.25, 6);
    expect(bn.runningVar.dataSync()[0]).toBeCloseTo(0.9 + 0.1 * (5 / 3), 6);
    bn.eval();
    const z = bn.forward(x);
    const scale = 1 / Math.sqrt(bn.runningVar.dataSync()[0]! + 1e-5);
    expect(z.dataSync()[0]).toBeCloseTo((1 - 0.25) * scale, 5);
    tf.dispose([x, y, z]);
    expect(tf.memory().numTensors).toBe(before);
    bn.dispose();
  });

  it('LayerNorm2d normalises each pixel over its channels with eps 1e-6', () => {
    const ln = new LayerNorm2d(4);
    expect(ln.eps).toBe(1e-6);
    const before = tf.memory().numTensors;
    const x = tf.tensor4d([1, 2, 3, 4, 10, 10, 10, 14], [1, 1, 2, 4]);
    const out = ln.forward(x);
    const y = out.dataSync();
    out.dispose();
    const sd = Math.sqrt(1.25 + 1e-6);
    expect(y[0]).toBeCloseTo(-1.5 / sd, 5);
    expect(y[7]).toBeCloseTo(3 / Math.sqrt(3 + 1e-6), 5);
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
    ln.dispose();
  });
});

describe('BatchNorm2d with one value per channel', () => {
  it('normalises with the running statistics and leaves them alone in training', async () => {
    await setupBackend('cpu');
    const bn = new BatchNorm2d(3);
    bn.runningMean.assign(tf.tensor1d([1, 2, 3]));
    bn.runningVar.assign(tf.tensor1d([4, 4, 4]));
    const before = tf.memory().numTensors;
    const x = tf.tensor2d([[3, 2, 1]]);
    const out = bn.forward(x);
    const y = out.dataSync();
    expect(y[0]).toBeCloseTo(2 / Math.sqrt(4 + 1e-5), 5);
    expect(y[2]).toBeCloseTo(-2 / Math.sqrt(4 + 1e-5), 5);
    expect(Array.from(bn.runningMean.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(bn.runningVar.dataSync())).toEqual([4, 4, 4]);
    tf.dispose([x, out]);
    expect(tf.memory().numTensors).toBe(before);
    bn.dispose();
  });
});
