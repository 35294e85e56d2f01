import { setupBackend } from '@partialnet/core';
import { formatCategoryTable } from '@partialnet/coco';
import { getPreset, listPresets } from '@partialnet/detection';
import { formatApTable, readRunConfig, trainDetector, type DetectionRunConfig } from '@partialnet/pipeline';
import { backendFlag, numberFlag, numberListFlag, parseCommandArgs } from '../args.js';
import { UsageError, type Command } from '../command.js';

const usage = `usage: partialnet train (--preset NAME | --config FILE.json) --data DIR --out RUN [--epochs N] [--batch N]
                        [--lr LR] [--optimizer adamw|sgd] [--schedule step|cosine] [--scale LONG,SHORT]
                        [--frozen-stages K] [--bn train|eval|frozen] [--backbone-weights FILE.safetensors]
                        [--eval-every N] [--checkpoint-every N] [--workers N] [--seed S] [--resume]
                        [--backend auto|wasm|cpu|webgpu|tfjs-node|tfjs-node-gpu] [--no-progress]
       partialnet train --list-presets

Trains a RetinaNet or Mask R-CNN with a PartialNet backbone on a COCO-format data set: DIR is a
\`partialnet data synth\` folder or DIR/annotations/instances_{train,val}.json + DIR/{train,val}/.
Evaluates COCO AP on the val split every --eval-every epochs and at the end, and prints the AP table.

RUN gets log.jsonl (losses, lr, img/s, tensor count per logged step; every evaluation),
checkpoints/iter_N/ (weights, optimizer, state.json with the resolved config; --resume continues the
newest one exactly), results.bbox.json / results.segm.json (the last evaluation) and curve.png.

--config FILE.json holds a run config (see the README): { "preset": "mask-rcnn-t0", "model": { overrides },
"epochs": 12, "batchSize": 2, "scale": [1333, 800], ... }; flags override its fields.

Defaults (the PartialNet detection recipe, mmdet 1x): AdamW lr 2e-4 wd 1e-4 (SGD: momentum 0.9, lr
0.02 * batch / 16), 12 epochs, batch 2, linear warmup 500 iterations (at most a third of the run) from
0.001 x lr, lr x 0.1 at epochs 8 and 11 (scaled to --epochs), scale 1333,800, flip 0.5, BN trained
(eval mode with --backbone-weights), gradient clipping 35 for RetinaNet, --eval-every 1, seed 0.`;

export const trainCommand: Command = {
  name: 'train',
  summary: 'train a RetinaNet / Mask R-CNN detector (PartialNet backbone) on COCO-format data',
  usage,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      preset: { type: 'string' },
      config: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      epochs: { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      optimizer: { type: 'string' },
      schedule: { type: 'string' },
      scale: { type: 'string' },
      'frozen-stages': { type: 'string' },
      bn: { type: 'string' },
      'backbone-weights': { type: 'string' },
      'eval-every': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      workers: { type: 'string' },
      seed: { type: 'string' },
      resume: { type: 'boolean', default: false },
      backend: { type: 'string' },
      'no-progress': { type: 'boolean', default: false },
      'list-presets': { type: 'boolean', default: false },
    });
    if (values['list-presets']) {
      const width = Math.max(...listPresets().map((n) => n.length));
      for (const name of listPresets()) {
        const c = getPreset(name);
        const heads = c.kind === 'retinanet' ? `RetinaNet, FPN P3-P7 (${c.neck.outChannels} ch)` : `Mask R-CNN, FPN P2-P6 (${c.neck.outChannels} ch), ${c.roi.bbox.sampler.num} RoIs, ${c.roi.bbox.fcChannels}-d box head`;
        console.log(`${name.padEnd(width)}  ${heads}, PartialNet-${c.backbone.variant.toUpperCase()} backbone`);
      }
      return 0;
    }
    if (!values.out) throw new UsageError('--out RUN is required');
    if (values.preset && values.config) throw new UsageError('give --preset or --config, not both (a config file names its preset)');
    const file: DetectionRunConfig = values.config ? await readRunConfig(values.config) : {};
    if (!values.preset && !values.config && !values.resume) throw new UsageError(`--preset NAME or --config FILE is required (presets: ${listPresets().join(', ')})`);
    if (values.preset && !listPresets().includes(values.preset)) throw new UsageError(`--preset: unknown preset '${values.preset}' (known: ${listPresets().join(', ')})`);

    const config: DetectionRunConfig = { ...file, ...(values.preset ? { preset: values.preset } : {}) };
    const int = (name: string, v: string | undefined, min = 1): number | undefined => {
      if (v === undefined) return undefined;
      const n = numberFlag(name, v, NaN);
      if (!(Number.isInteger(n) && n >= min)) throw new UsageError(`--${name}: expected an integer >= ${min}, got '${v}'`);
      return n;
    };
    const set = <K extends keyof DetectionRunConfig>(key: K, v: DetectionRunConfig[K] | undefined) => {
      if (v !== undefined) config[key] = v;
    };
    set('data', values.data);
    set('epochs', int('epochs', values.epochs));
    set('batchSize', int('batch', values.batch));
    set('lr', values.lr === undefined ? undefined : numberFlag('lr', values.lr, NaN));
    if (values.optimizer !== undefined && values.optimizer !== 'adamw' && values.optimizer !== 'sgd') throw new UsageError(`--optimizer: adamw or sgd, got '${values.optimizer}'`);
    set('optimizer', values.optimizer as 'adamw' | 'sgd' | undefined);
    if (values.schedule !== undefined && values.schedule !== 'step' && values.schedule !== 'cosine') throw new UsageError(`--schedule: step or cosine, got '${values.schedule}'`);
    set('schedule', values.schedule as 'step' | 'cosine' | undefined);
    if (values.scale !== undefined) {
      const s = numberListFlag('scale', values.scale, []);
      if (s.length !== 2 || !s.every((v) => Number.isInteger(v) && v >= 32)) throw new UsageError(`--scale: expected LONG,SHORT such as 1333,800 (integers >= 32), got '${values.scale}'`);
      config.scale = [s[0]!, s[1]!];
    }
    set('frozenStages', int('frozen-stages', values['frozen-stages'], -1));
    if (values.bn !== undefined && !['train', 'eval', 'frozen'].includes(values.bn)) throw new UsageError(`--bn: train, eval or frozen, got '${values.bn}'`);
    set('bnMode', values.bn as DetectionRunConfig['bnMode']);
    set('backboneWeights', values['backbone-weights']);
    set('evalEvery', int('eval-every', values['eval-every'], 0));
    set('checkpointEvery', int('checkpoint-every', values['checkpoint-every'], 0));
    set('workers', int('workers', values.workers, 0));
    set('seed', int('seed', values.seed, 0));
    if (!config.data && !values.resume) throw new UsageError('--data DIR is required (a `partialnet data synth` folder or a COCO layout)');

    const report = await setupBackend(backendFlag(values.backend));
    const r = await trainDetector(config, { outDir: values.out, resume: values.resume, progress: !values['no-progress'], print: (m) => console.log(m) });
    console.log(`done: ${r.train.iters} iters in ${r.train.seconds.toFixed(1)} s on ${report.name}; checkpoint ${r.train.checkpoint}; curve ${r.curve}`);
    if (r.eval) {
      for (const t of ['bbox', 'segm'] as const) {
        const m = r.eval[t];
        if (!m) continue;
        console.log(`\n${t} (${m.resultsFile}, ${m.numResults} results):\n${m.summary}`);
        console.log(`\nper class (${t}):\n${formatCategoryTable(m.perCategory)}`);
      }
      console.log(`\nval AP (${r.eval.images} images, ${r.eval.imgPerSec.toFixed(2)} img/s):\n${formatApTable(r.eval)}`);
    }
    return 0;
  },
};
