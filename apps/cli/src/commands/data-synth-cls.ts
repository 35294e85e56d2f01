import { writeShapesClassification } from '@partialnet/data';
import { defineCommand } from '../options.js';

export const dataSynthClsCommand = defineCommand({
  name: 'data synth-cls',
  summary: 'render a synthetic one-shape-per-image classification set (image folders)',
  description: `Renders a synthetic ImageNet-style classification set for train-cls / eval-cls: one shape
(circle, square, triangle, star, hexagon, cross) per image on a textured background, the class is
its category. Writes DIR/{train,val}/<class>/NNNN.png, exactly N images per class and split.
The same --seed always gives the same files.`,
  options: {
    out: { type: 'string', arg: 'DIR', required: true, help: 'output folder' },
    'per-class': { type: 'integer', default: 40, min: 1, help: 'training images per class' },
    'val-per-class': { type: 'integer', default: 10, min: 0, help: 'val images per class' },
    size: { type: 'integer', arg: 'PX', default: 64, min: 16, help: 'image side' },
    seed: { type: 'integer', default: 0, min: 0, help: 'random seed' },
  },
  async run(o) {
    const t0 = performance.now();
    const s = await writeShapesClassification(o.out, { perClass: o['per-class'], valPerClass: o['val-per-class'], size: o.size, seed: o.seed });
    console.log(
      `wrote ${s.train} train + ${s.val} val images (${o.size}x${o.size}, seed ${o.seed}, ${s.classNames.length} classes: ${s.classNames.join(', ')}) ` +
        `to ${o.out} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    return 0;
  },
});
