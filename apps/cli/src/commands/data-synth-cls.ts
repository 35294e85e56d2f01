import { writeShapesClassification } from '@partialnet/data';
import { numberFlag, parseCommandArgs } from '../args.js';
import { UsageError, type Command } from '../command.js';

const usage = `usage: partialnet data synth-cls --out DIR [--per-class N] [--val-per-class N] [--size S] [--seed S]

Renders a synthetic ImageNet-style classification set for train-cls / eval-cls: one shape
(circle, square, triangle, star, hexagon, cross) per image on a textured background, the class is
its category. Writes DIR/{train,val}/<class>/NNNN.png, exactly N images per class and split.
The same --seed always gives the same files.
Defaults: --per-class 40 --val-per-class 10 --size 64 --seed 0.`;

export const dataSynthClsCommand: Command = {
  name: 'data synth-cls',
  summary: 'render a synthetic one-shape-per-image classification set (image folders)',
  usage,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      out: { type: 'string' },
      'per-class': { type: 'string' },
      'val-per-class': { type: 'string' },
      size: { type: 'string' },
      seed: { type: 'string' },
    });
    if (!values.out) throw new UsageError('--out DIR is required');
    const perClass = numberFlag('per-class', values['per-class'], 40);
    if (!(Number.isInteger(perClass) && perClass >= 1)) throw new UsageError(`--per-class: expected a positive integer, got '${values['per-class']}'`);
    const valPerClass = numberFlag('val-per-class', values['val-per-class'], 10);
    if (!(Number.isInteger(valPerClass) && valPerClass >= 0)) throw new UsageError(`--val-per-class: expected a non-negative integer, got '${values['val-per-class']}'`);
    const size = numberFlag('size', values.size, 64);
    if (!(Number.isInteger(size) && size >= 16)) throw new UsageError(`--size: expected an integer of at least 16, got '${values.size}'`);
    const seed = numberFlag('seed', values.seed, 0);
    const t0 = performance.now();
    const s = await writeShapesClassification(values.out, { perClass, valPerClass, size, seed });
    console.log(
      `wrote ${s.train} train + ${s.val} val images (${size}x${size}, seed ${seed}, ${s.classNames.length} classes: ${s.classNames.join(', ')}) ` +
        `to ${values.out} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    return 0;
  },
};
