import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { OnnxSession, onnxRuntimeAvailable } from '@partialnet/core';

// These run the built command line exactly as a user does (`pnpm test` builds first).
const CLI = fileURLToPath(new URL('../apps/cli/dist/main.js', import.meta.url));
const T0 = fileURLToPath(new URL('../../shared/fixtures/partialnet/t0-224x224/', import.meta.url));
const ortMissing = !(await onnxRuntimeAvailable());
const dir = mkdtempSync(join(tmpdir(), 'partialnet-onnx-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function partialnet(args: string[]): string {
  return execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function readF32(file: string): Float32Array {
  const b = readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

describe.skipIf(ortMissing || !existsSync(T0))(`partialnet export onnx with the official T0 weights (fixture ${T0}, onnxruntime-node installed)`, () => {
  it('writes a model whose ONNX Runtime logits match the official PyTorch outputs within 1e-4', async () => {
    const out = join(dir, 't0.onnx');
    const log = partialnet(['export', 'onnx', '--variant', 't0', '--weights', join(T0, 'weights.safetensors'), '--out', out]);
    expect(log).toMatch(/t0\.onnx: .* outputs logits/);
    const meta = JSON.parse(readFileSync(join(T0, 'meta.json'), 'utf8')) as { input: { shape: number[] } };
    const session = await OnnxSession.open(out, { threads: 2 });
    const { logits } = await session.run({ input: { data: readF32(join(T0, 'input.bin')), dims: meta.input.shape } });
    await session.dispose();
    const expected = readF32(join(T0, 'output.bin'));
    let diff = 0;
    for (let i = 0; i < expected.length; i++) diff = Math.max(diff, Math.abs(expected[i]! - logits!.data[i]!));
    expect(diff).toBeLessThanOrEqual(1e-4);
  }, 300_000);
});

describe.skipIf(ortMissing)('bench backbone --runtime onnx (onnxruntime-node installed)', () => {
  it('prints one JSON line per thread count and batch, next to the tfjs lines', () => {
    const out = partialnet(['bench', 'backbone', '--runtime', 'onnx,tfjs', '--threads', '1', '--batch', '1', '--size', '64', '--iters', '1', '--warmup', '0', '--warmup-seconds', '0', '--min-seconds', '0', '--backend', 'wasm']);
    const lines = out.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(lines.map((l) => l.mode)).toEqual(['onnx', 'infer', 'infer-fused']);
    expect(lines[0]).toMatchObject({ threads: 1, batch: 1, size: 64, inputSize: 'fixed' });
    expect(lines[0].backend).toMatch(/^onnxruntime-node /);
    expect(lines[0].msPerIter).toBeGreaterThan(0);
  }, 300_000);
});

describe.skipIf(ortMissing)('eval-cls --runtime onnx (onnxruntime-node installed)', () => {
  it('gives the tfjs top-1, top-5 and loss of a train-cls checkpoint', () => {
    const data = join(dir, 'cls');
    const run = join(dir, 'cls-run');
    partialnet(['data', 'synth-cls', '--out', data, '--per-class', '4', '--val-per-class', '3', '--size', '40', '--seed', '5']);
    partialnet(['train-cls', '--data', data, '--out', run, '--embed-dim', '8', '--depths', '1,1,1,1', '--size', '32', '--batch', '6', '--epochs', '1', '--backend', 'wasm', '--no-progress']);
    const common = ['eval-cls', '--checkpoint', run, '--data', data, '--backend', 'wasm', '--json'];
    const tfjs = JSON.parse(partialnet(common).trim().split('\n').pop()!) as { top1: number; top5: number; loss: number; images: number };
    const onnx = JSON.parse(partialnet([...common, '--runtime', 'onnx', '--threads', '1']).trim().split('\n').pop()!) as typeof tfjs & { runtime: string };
    expect(onnx.runtime).toBe('onnx');
    expect(onnx.images).toBe(18);
    expect(onnx.top1).toBe(tfjs.top1);
    expect(onnx.top5).toBe(tfjs.top5);
    expect(onnx.loss).toBeCloseTo(tfjs.loss, 4);
  }, 300_000);
});

describe('partialnet export onnx usage', () => {
  it('names what is missing (exit 2)', () => {
    for (const [args, message] of [
      [['export', 'onnx', '--variant', 't0'], /--out M\.onnx is required/],
      [['export', 'onnx', '--variant', 't0', '--out', 'x.onnx'], /--weights W\.safetensors is required/],
      [['export', 'onnx', '--variant', 't0', '--weights', 'w', '--out', 'x.onnx', '--size', 'big'], /--size: expected HxW/],
    ] as const) {
      let error: { status?: number; stderr?: string } = {};
      try {
        partialnet([...args]);
      } catch (e) {
        error = e as typeof error;
      }
      expect(error.status).toBe(2);
      expect(error.stderr).toMatch(message);
    }
  });
});
