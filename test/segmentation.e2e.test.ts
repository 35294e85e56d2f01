import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The built command line as a user runs it: train-seg -> eval-seg -> predict-seg -> eval-seg --predictions.
const CLI = fileURLToPath(new URL('../apps/cli/dist/main.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'pn-seg-e2e-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function partialnet(args: string[]): string {
  return execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PARTIALNET_BACKEND: 'wasm' } });
}

describe('semantic segmentation from the command line', () => {
  it('trains, evaluates, predicts, and scoring the predicted PNGs gives the checkpoint evaluation exactly', () => {
    const data = join(root, 'shapes');
    partialnet(['data', 'synth', '--out', data, '--images', '10', '--size', '64x64', '--seed', '3']);
    const config = join(root, 'run.json');
    writeFileSync(
      config,
      JSON.stringify({
        preset: 'semantic-fpn-lite-t0',
        model: { backbone: { variant: { embedDim: 16, depths: [1, 1, 1, 1] } }, neck: { outChannels: 16 }, head: { channels: 16 } },
        iters: 4,
        batchSize: 2,
        scale: [128, 64],
        cropSize: [64, 64],
      }),
    );
    const run = join(root, 'run');
    const train = partialnet(['train-seg', '--config', config, '--data', data, '--out', run, '--no-progress']);
    expect(train).toMatch(/4 iters \(1 epochs; 4 iterations as given/);
    expect(train).toMatch(/^aAcc \d+\.\d\d {2}mIoU \d+\.\d\d {2}mAcc \d+\.\d\d$/m);
    expect(existsSync(join(run, 'curve.png'))).toBe(true);

    const evalJson = join(root, 'eval.json');
    partialnet(['eval-seg', '--checkpoint', run, '--json', evalJson, '--no-progress']);
    const a = JSON.parse(readFileSync(evalJson, 'utf8'));
    expect(Object.keys(a)).toEqual(['aAcc', 'mIoU', 'mAcc', 'perClass']);
    expect(a.perClass.map((c: { name: string }) => c.name)).toEqual(['background', 'circle', 'square', 'triangle', 'star', 'hexagon', 'cross']);
    expect(a.aAcc).toBeGreaterThanOrEqual(0);
    expect(a.aAcc).toBeLessThanOrEqual(1);

    const preds = join(root, 'preds');
    partialnet(['predict-seg', '--checkpoint', run, join(data, 'val'), '--out', preds]);
    expect(readdirSync(join(preds, 'labels')).sort()).toEqual(readdirSync(join(data, 'semantic', 'val')).sort());
    expect(readdirSync(join(preds, 'overlay')).length).toBe(2);

    const scoredJson = join(root, 'scored.json');
    partialnet(['eval-seg', '--predictions', join(preds, 'labels'), '--labels', join(data, 'semantic', 'val'), '--classes', '7', '--json', scoredJson]);
    const b = JSON.parse(readFileSync(scoredJson, 'utf8'));
    expect([b.aAcc, b.mIoU, b.mAcc]).toEqual([a.aAcc, a.mIoU, a.mAcc]);
  });
});
