// Issue 10, "Work lost": a run's checkpoints survive kills and failures at any moment.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AdamW, Linear, Module, NonFiniteLossError, Trainer, crossEntropy, findLatestCheckpoint, loadCheckpoint, saveCheckpoint, seedEverything, setupBackend, tf, type TrainData, type TrainingState } from '../src/index.js';

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return { ...actual, rename: vi.fn(actual.rename) };
});

class Tiny extends Module {
  readonly fc = this.addChild('fc', new Linear(3, 2));
  forward(x: tf.Tensor2D): tf.Tensor2D {
    return this.fc.forward(x);
  }
}

interface Batch {
  x: tf.Tensor2D;
  y: tf.Tensor1D;
}

function data(batchesPerEpoch: number): TrainData<Batch> {
  return {
    batchesPerEpoch,
    *batches(epoch, start) {
      for (let i = start; i < batchesPerEpoch; i++) {
        const s = epoch * 10 + i + 1;
        yield { x: tf.tensor2d([s % 3, 1, -1, 0.5, s % 2, 2], [2, 3]), y: tf.tensor1d([s % 2, (s + 1) % 2], 'int32') };
      }
    },
    disposeBatch: (b) => tf.dispose([b.x, b.y]),
  };
}

const state = (iter: number): TrainingState => ({ iter, epoch: 0, batchInEpoch: iter, randomState: 1, extra: {} });
const weights = (v: number) => new Map([['w', { dtype: 'float32' as const, shape: [1], data: new Float32Array([v]) }]]);

describe('work is never lost', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'partialnet-worklost-'));
    dirs.push(d);
    return d;
  };
  beforeAll(async () => {
    await setupBackend('cpu');
  });
  afterEach(() => {
    vi.mocked(fsp.rename).mockClear();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function setup(outDir: string, extra: Partial<ConstructorParameters<typeof Trainer<Batch>>[0]> = {}) {
    seedEverything(1);
    const model = new Tiny();
    model.train();
    const optimizer = new AdamW(model.parameters(), { lr: 1e-2 });
    const trainer = new Trainer<Batch>({
      model,
      optimizer,
      data: data(3),
      epochs: 2,
      schedule: { lr: 1e-2 },
      outDir,
      logEvery: 1,
      progress: false,
      lossFn: (b) => ({ cls: crossEntropy(model.forward(b.x), b.y) }),
      ...extra,
    });
    return { model, optimizer, trainer, dispose: () => (model.dispose(), optimizer.dispose()) };
  }

  it('saving an iteration again never deletes its only complete copy first (a failure in between keeps it)', async () => {
    const root = tmp();
    await saveCheckpoint(root, weights(1), new Map(), state(8));
    // The second save of iteration 8 fails when it moves its new copy into place (a kill there).
    const actual = await vi.importActual<typeof import('node:fs/promises')>('node:fs/promises');
    vi.mocked(fsp.rename).mockImplementation(async (from, to) => {
      if (/\.iter_0000008\.tmp-\d+$/.test(String(from))) throw new Error('killed');
      return actual.rename(from, to);
    });
    await expect(saveCheckpoint(root, weights(2), new Map(), state(8))).rejects.toThrow('killed');
    vi.mocked(fsp.rename).mockImplementation(actual.rename);
    const messages: string[] = [];
    const dir = await findLatestCheckpoint(root, { warn: (m) => messages.push(m) });
    expect(dir).toMatch(/iter_0000008$/);
    const ckpt = await loadCheckpoint(dir!, { optimizer: 'skip' });
    expect(ckpt.state.iter).toBe(8);
  });

  it('a latest.json pointing at a missing checkpoint falls back to the newest complete one and says so', async () => {
    const root = tmp();
    await saveCheckpoint(root, weights(1), new Map(), state(4));
    await saveCheckpoint(root, weights(2), new Map(), state(8));
    rmSync(join(root, 'checkpoints', 'iter_0000008'), { recursive: true });
    const messages: string[] = [];
    const dir = await findLatestCheckpoint(root, { warn: (m) => messages.push(m) });
    expect(dir).toMatch(/iter_0000004$/);
    expect(messages.join('\n')).toMatch(/latest\.json.*iter_0000008.*iter_0000004/s);
    // An unreadable pointer too.
    writeFileSync(join(root, 'checkpoints', 'latest.json'), '{"checkp');
    expect(await findLatestCheckpoint(root, { warn: (m) => messages.push(m) })).toMatch(/iter_0000004$/);
  });

  it('removes temporary checkpoint folders that killed writers left behind', async () => {
    const root = tmp();
    const stale = join(root, 'checkpoints', '.iter_0000003.tmp-999999999');
    mkdirSync(stale, { recursive: true });
    writeFileSync(join(stale, 'model.safetensors'), 'half');
    await saveCheckpoint(root, weights(1), new Map(), state(4));
    expect(existsSync(stale)).toBe(false);
    expect(readdirSync(join(root, 'checkpoints')).sort()).toEqual(['iter_0000004', 'latest.json']);
  });

  it('checkpoints the end of an epoch before evaluating it, so a failing evaluation keeps the epoch', async () => {
    const before = tf.memory().numTensors;
    const dir = tmp();
    const s = setup(dir, {
      evalEvery: 1,
      evaluate: async () => {
        throw new Error('val image 17 is corrupt');
      },
    });
    await expect(s.trainer.run()).rejects.toThrow('corrupt');
    expect(JSON.parse(readFileSync(join(dir, 'checkpoints', 'latest.json'), 'utf8')).iter).toBe(3);
    s.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('saves an iteration once when checkpointEvery divides the epoch', async () => {
    const dir = tmp();
    const s = setup(dir, { checkpointEvery: 3 });
    await s.trainer.run();
    const saved = vi.mocked(fsp.rename).mock.calls.filter(([from]) => /\.iter_\d+\.tmp-\d+$/.test(String(from))).map(([, to]) => String(to).slice(-12));
    expect(saved).toEqual(['iter_0000003', 'iter_0000006']);
    s.dispose();
  });

  it('stops on a non-finite gradient without clipping, before the optimizer applies it, with advice naming --lr and --clip-grad', async () => {
    const before = tf.memory().numTensors;
    const dir = tmp();
    let calls = 0;
    const s = setup(dir);
    const trainer = new Trainer<Batch>({
      ...s.trainer.opts,
      // A finite loss whose gradient is NaN: d/dw sqrt(w - w) = inf * 0.
      lossFn: (b) => {
        calls++;
        const ce = crossEntropy(s.model.forward(b.x), b.y);
        if (calls !== 2) return { cls: ce };
        const w = s.model.fc.weight;
        return { cls: ce, trap: tf.mul(tf.sum(tf.sqrt(tf.sub(w, w))), 0) as tf.Scalar };
      },
    });
    const error = await trainer.run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NonFiniteLossError);
    expect((error as Error).message).toMatch(/gradient .*NaN.*iteration 1/);
    expect((error as Error).message).toMatch(/--lr\b.*--clip-grad\b.*--resume/);
    expect(Array.from(s.model.fc.weight.dataSync()).every(Number.isFinite)).toBe(true);
    const ckpt = await loadCheckpoint((error as NonFiniteLossError).checkpoint);
    expect(Array.from(ckpt.model.get('fc.weight')!.data).every(Number.isFinite)).toBe(true);
    s.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses to resume a checkpoint without optimizer.safetensors unless told to restart the optimizer', async () => {
    const dir = tmp();
    const first = setup(dir, { epochs: 1 });
    await first.trainer.run();
    first.dispose();
    const latest = (await findLatestCheckpoint(dir))!;
    rmSync(join(latest, 'optimizer.safetensors'));
    const again = setup(dir);
    await expect(again.trainer.resume()).rejects.toThrow(/optimizer\.safetensors.*--reset-optimizer/s);
    expect(await again.trainer.resume({ resetOptimizer: true })).toBe(latest);
    again.dispose();
  });
});
