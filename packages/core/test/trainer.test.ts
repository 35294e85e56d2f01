import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AdamW, BatchNorm2d, Conv2d, Linear, Module, NonFiniteLossError, SGD, Trainer, crossEntropy, dropout, loadCheckpoint, seedEverything, setupBackend, tf, type TrainData } from '../src/index.js';

/** Conv -> BN -> ReLU -> dropout -> pool -> linear: every kind of state a checkpoint must carry. */
class Net extends Module {
  readonly conv = this.addChild('conv', new Conv2d(3, 8, { kernelSize: 3, padding: 1 }));
  readonly bn = this.addChild('bn', new BatchNorm2d(8));
  readonly fc = this.addChild('fc', new Linear(8, 4));
  forward(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const y = dropout(tf.relu(this.bn.forward(this.conv.forward(x))), 0.2, this.isTraining);
      return this.fc.forward(tf.mean(y, [1, 2]) as tf.Tensor2D);
    });
  }
}

interface Batch {
  x: tf.Tensor4D;
  y: tf.Tensor1D;
}

/** Deterministic batches: batch i of epoch e is a function of (e, i) only. */
function syntheticData(batchesPerEpoch: number, failAt?: { epoch: number; batch: number }): TrainData<Batch> {
  return {
    batchesPerEpoch,
    *batches(epoch, start) {
      for (let i = start; i < batchesPerEpoch; i++) {
        if (failAt && failAt.epoch === epoch && failAt.batch === i) throw new Error('simulated crash');
        // tfjs treats seed 0 as 'no seed'.
        const seed = epoch * 100 + i + 1;
        yield { x: tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', seed) as tf.Tensor4D, y: tf.tensor1d([seed % 4, (seed + 1) % 4], 'int32') };
      }
    },
    disposeBatch: (b) => tf.dispose([b.x, b.y]),
    batchSize: () => 2,
  };
}

function makeTrainer(outDir: string, data: TrainData<Batch>, extra: Partial<ConstructorParameters<typeof Trainer<Batch>>[0]> = {}) {
  seedEverything(42);
  const model = new Net();
  model.train();
  const optimizer = new AdamW(model.parameters(), { lr: 1e-2, weightDecay: 1e-4 });
  const trainer = new Trainer<Batch>({
    model,
    optimizer,
    data,
    epochs: 2,
    schedule: { lr: 1e-2, policy: { type: 'step', milestones: [4], gamma: 0.1 }, warmup: { iters: 2, ratio: 0.1 } },
    outDir,
    checkpointEvery: 2,
    logEvery: 1,
    progress: false,
    lossFn: (b) => ({ cls: crossEntropy(model.forward(b.x), b.y) }),
    ...extra,
  });
  return { model, optimizer, trainer };
}

describe('Trainer', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'partialnet-trainer-'));
    dirs.push(d);
    return d;
  };
  beforeAll(async () => {
    await setupBackend('cpu');
  });
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('a resumed run ends with exactly the parameters of an uninterrupted one', async () => {
    const before = tf.memory().numTensors;
    const straight = makeTrainer(tmp(), syntheticData(5));
    await straight.trainer.run();
    const reference = await straight.model.stateDict();

    const dir = tmp();
    const crashing = makeTrainer(dir, syntheticData(5, { epoch: 1, batch: 1 }));
    await expect(crashing.trainer.run()).rejects.toThrow('simulated crash');
    // Checkpoints at iterations 2, 4, end of epoch 0 (5), 6: the crash came before iteration 7.
    expect(JSON.parse(readFileSync(join(dir, 'checkpoints', 'latest.json'), 'utf8')).iter).toBe(6);
    crashing.model.dispose();
    crashing.optimizer.dispose();
    const resumed = makeTrainer(dir, syntheticData(5));
    expect(await resumed.trainer.resume()).toMatch(/iter_0000006$/);
    const result = await resumed.trainer.run();
    expect(result.iters).toBe(10);
    for (const [name, t] of reference) expect(Array.from((await resumed.model.stateDict()).get(name)!.data), name).toEqual(Array.from(t.data));

    straight.model.dispose();
    straight.optimizer.dispose();
    resumed.model.dispose();
    resumed.optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('keeps the tensor count flat, logs every step (with the wasm heap size on wasm) and keeps the newest checkpoints', async () => {
    const dir = tmp();
    const counts: number[] = [];
    const { model, optimizer, trainer } = makeTrainer(dir, syntheticData(4), { keepCheckpoints: 2, onLog: (r) => counts.push(r.numTensors as number) });
    const result = await trainer.run();
    expect(result.iters).toBe(8);
    expect(new Set(counts.slice(1)).size).toBe(1);
    const lines = readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.iter)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(lines[0].lr).toBeCloseTo(1e-3, 10); // warmup ratio 0.1 at iteration 0
    expect(lines[5].lr).toBeCloseTo(1e-3, 10); // step decay after milestone 4
    for (const l of lines) expect(Number.isFinite(l.cls) && Number.isFinite(l.loss)).toBe(true);
    // on wasm each line carries the heap's size so far (MiB), elsewhere nothing
    for (const l of lines) expect(tf.getBackend() === 'wasm' ? Number.isInteger(l.wasmHeapMiB) && l.wasmHeapMiB > 0 : l.wasmHeapMiB === undefined).toBe(true);
    expect(readdirSync(join(dir, 'checkpoints')).filter((n) => n.startsWith('iter_')).sort()).toEqual(['iter_0000006', 'iter_0000008']);
    model.dispose();
    optimizer.dispose();
  });

  it('keeps the gradient of a parameter that only an earlier micro-batch reached', async () => {
    class Two extends Module {
      readonly a = this.addParameter('a', tf.scalar(1));
      readonly b = this.addParameter('b', tf.scalar(1));
    }
    const model = new Two();
    const optimizer = new SGD(model.parameters(), { lr: 1 });
    const data: TrainData<number> = { batchesPerEpoch: 2, batches: () => [0, 1] };
    const trainer = new Trainer<number>({
      model,
      optimizer,
      data,
      epochs: 1,
      accumulate: 2,
      schedule: { lr: 1 },
      outDir: tmp(),
      progress: false,
      // Micro-batch 0: 2a (d/da = 2); micro-batch 1: 3b (d/db = 3). Averaged over the 2 batches.
      lossFn: (i) => ({ l: i === 0 ? (tf.mul(model.a, 2) as tf.Scalar) : (tf.mul(model.b, 3) as tf.Scalar) }),
    });
    await trainer.run();
    expect(model.a.dataSync()[0]).toBeCloseTo(0, 6);
    expect(model.b.dataSync()[0]).toBeCloseTo(-0.5, 6);
    model.dispose();
    optimizer.dispose();
  });

  it('accumulating 2 micro-batches of 2 takes the same steps as batches of 4', async () => {
    // No BatchNorm or dropout here: with them, micro-batches legitimately differ from one big batch.
    class Lin extends Module {
      readonly fc = this.addChild('fc', new Linear(12, 4));
      forward(x: tf.Tensor4D): tf.Tensor2D {
        return this.fc.forward(tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D);
      }
    }
    const micro = syntheticData(4);
    // The same 8 samples of an epoch, in the same order, as 2 batches of 4.
    const big: TrainData<Batch> = {
      batchesPerEpoch: 2,
      *batches(epoch, start) {
        const small = [...micro.batches(epoch, 0)];
        for (let i = start; i < 2; i++) {
          const [a, b] = [small[2 * i]!, small[2 * i + 1]!];
          yield { x: tf.concat([a.x, b.x]) as tf.Tensor4D, y: tf.concat([a.y, b.y]) as tf.Tensor1D };
        }
        for (const b of small) micro.disposeBatch!(b);
      },
      disposeBatch: (b) => tf.dispose([b.x, b.y]),
      batchSize: () => 4,
    };
    const train = async (data: TrainData<Batch>, accumulate: number) => {
      seedEverything(7);
      const model = new Lin();
      const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
      const trainer = new Trainer<Batch>({
        model, optimizer, data, epochs: 2, accumulate, schedule: { lr: 0.1 }, outDir: tmp(), progress: false,
        lossFn: (b) => ({ cls: crossEntropy(model.forward(tf.slice(b.x, [0, 0, 0, 0], [-1, 2, 2, 3]) as tf.Tensor4D), b.y) }),
      });
      const result = await trainer.run();
      const weights = Array.from(model.fc.weight.dataSync());
      model.dispose();
      optimizer.dispose();
      return { iters: result.iters, weights };
    };
    const before = tf.memory().numTensors;
    const accumulated = await train(micro, 2);
    const oneBatch = await train(big, 1);
    const unaccumulated = await train(micro, 1);
    expect(accumulated.iters).toBe(4);
    expect(oneBatch.iters).toBe(4);
    const diff = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
    // Equal up to float32 summation order.
    expect(diff(accumulated.weights, oneBatch.weights)).toBeLessThan(1e-5);
    // And not trivially so: stepping after every micro-batch ends elsewhere.
    expect(diff(unaccumulated.weights, oneBatch.weights)).toBeGreaterThan(1e-3);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stops on a NaN loss, keeping the model from before the bad step', async () => {
    const dir = tmp();
    let calls = 0;
    const setup = makeTrainer(dir, syntheticData(4), {});
    const { model, optimizer } = setup;
    const trainer = new Trainer<Batch>({
      ...setup.trainer.opts,
      lossFn: (b) => {
        calls++;
        // A poisoned input also poisons BatchNorm's running statistics in the forward pass.
        return { cls: crossEntropy(model.forward(calls === 3 ? (tf.mul(b.x, NaN) as tf.Tensor4D) : b.x), b.y) };
      },
    });
    const error = await trainer.run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NonFiniteLossError);
    expect((error as NonFiniteLossError).message).toMatch(/loss is NaN at iteration 2 .*saved in .*iter_0000002.*--resume/);
    expect(existsSync(join((error as NonFiniteLossError).checkpoint, 'model.safetensors'))).toBe(true);
    const saved = readFileSync(join(dir, 'log.jsonl'), 'utf8');
    expect(saved).toContain('"type":"error"');
    // The saved state is the one before the bad step: finite statistics, and the bad batch replays.
    const ckpt = await loadCheckpoint((error as NonFiniteLossError).checkpoint);
    for (const name of ['bn.running_mean', 'bn.running_var']) expect(Array.from(ckpt.model.get(name)!.data).every(Number.isFinite), name).toBe(true);
    expect(ckpt.state).toMatchObject({ iter: 2, batchInEpoch: 2 });
    expect(Array.from(model.bn.runningMean.dataSync()).every(Number.isFinite)).toBe(true);
    model.dispose();
    optimizer.dispose();
  });

  it('on wasm, every log line carries the heap size so far (MiB), never less than the line before', async () => {
    await setupBackend('wasm');
    try {
      const dir = tmp();
      const { model, optimizer, trainer } = makeTrainer(dir, syntheticData(2));
      await trainer.run();
      const lines = readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'train');
      expect(lines.length).toBeGreaterThan(0);
      for (const [i, l] of lines.entries()) {
        expect(Number.isInteger(l.wasmHeapMiB) && l.wasmHeapMiB > 0).toBe(true);
        if (i > 0) expect(l.wasmHeapMiB).toBeGreaterThanOrEqual(lines[i - 1].wasmHeapMiB);
      }
      model.dispose();
      optimizer.dispose();
    } finally {
      await setupBackend('cpu');
    }
  });
});
