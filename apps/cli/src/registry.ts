import type { Command } from './command.js';
import { benchBackboneCommand } from './commands/bench-backbone.js';
import { benchDetectionCommand } from './commands/bench-detection.js';
import { benchGpuCommand } from './commands/bench-gpu.js';
import { convertCommand } from './commands/convert.js';
import { exportMmdetCommand } from './commands/export-mmdet.js';
import { importMmdetCommand } from './commands/import-mmdet.js';
import { dataShowCommand } from './commands/data-show.js';
import { dataSynthCommand } from './commands/data-synth.js';
import { dataSynthClsCommand } from './commands/data-synth-cls.js';
import { evalClsCommand } from './commands/eval-cls.js';
import { evalCommand } from './commands/eval.js';
import { evalMergeCommand } from './commands/eval-merge.js';
import { evalCocoCommand } from './commands/eval-coco.js';
import { exportOnnxCommand } from './commands/export-onnx.js';
import { infoCommand } from './commands/info.js';
import { predictCommand } from './commands/predict.js';
import { trainCommand } from './commands/train.js';
import { trainClsCommand } from './commands/train-cls.js';
import { trainSegCommand } from './commands/train-seg.js';
import { evalSegCommand } from './commands/eval-seg.js';
import { predictSegCommand } from './commands/predict-seg.js';

/** Every command of the CLI. */
export const commands: readonly Command[] = [
  infoCommand,
  benchBackboneCommand,
  benchDetectionCommand,
  benchGpuCommand,
  evalCocoCommand,
  dataSynthCommand,
  dataShowCommand,
  dataSynthClsCommand,
  trainClsCommand,
  evalClsCommand,
  trainCommand,
  evalCommand,
  evalMergeCommand,
  predictCommand,
  exportOnnxCommand,
  convertCommand,
  importMmdetCommand,
  exportMmdetCommand,
  trainSegCommand,
  evalSegCommand,
  predictSegCommand,
];

/** Finds the command whose words are the longest prefix of argv. */
export function findCommand(argv: readonly string[]): { command: Command; rest: string[] } | undefined {
  let best: { command: Command; rest: string[] } | undefined;
  let bestLength = 0;
  for (const command of commands) {
    const words = command.name.split(' ');
    if (words.length <= bestLength) continue;
    if (words.every((w, i) => argv[i] === w)) {
      best = { command, rest: argv.slice(words.length) };
      bestLength = words.length;
    }
  }
  return best;
}
