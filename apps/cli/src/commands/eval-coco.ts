import { writeFile } from 'node:fs/promises';
import { COCOeval, CocoFormatError, formatCategoryTable, JsonSyntaxError, loadInstances, loadResults, STAT_NAMES, type IouType } from '@partialnet/coco';
import { defineCommand } from '../options.js';

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)}s`;

export const evalCocoCommand = defineCommand({
  name: 'eval coco',
  summary: 'COCO bbox / segm evaluation of a results file (pycocotools-exact)',
  description: `Evaluates a COCO results file against ground truth with pycocotools' COCOeval semantics and prints
its summary (the 12 AP / AR numbers) with load and evaluation times.`,
  options: {
    gt: { type: 'string', arg: 'FILE', required: true, help: 'ground-truth instances file (COCO format)' },
    results: { type: 'string', arg: 'FILE', required: true, help: 'results file: a JSON array of {image_id, category_id, score, bbox | segmentation}' },
    'iou-type': { type: 'string', default: 'bbox', choices: ['bbox', 'segm'], help: 'what to evaluate' },
    json: { type: 'string', arg: 'FILE', help: 'also write { "stats": [12 numbers], "perCategory": { id: {...} } } to this file' },
    'per-class': { type: 'boolean', help: 'print AP / AR per category' },
  },
  async run(values): Promise<number> {
    const iouType: IouType = values['iou-type'];

    try {
      console.log('loading annotations into memory...');
      const gt = await loadInstances(values.gt);
      console.log(
        `Done (t=${seconds(gt.loadStats.ms)}): ${gt.images.length} images, ${gt.annotations.count} annotations, ${gt.categories.length} categories`,
      );
      console.log('Loading and preparing results...');
      const t0 = performance.now();
      const dt = await loadResults(gt, values.results);
      console.log(`DONE (t=${seconds(performance.now() - t0)}): ${dt.count} results`);
      for (const w of dt.warnings) console.warn(`warning: ${w}`);

      const E = new COCOeval(gt, dt, iouType as IouType);
      console.log('Running per image evaluation...');
      console.log(`Evaluate annotation type *${iouType}*`);
      E.evaluate();
      console.log(`DONE (t=${seconds(E.timings.evaluateMs)}).`);
      console.log('Accumulating evaluation results...');
      E.accumulate();
      console.log(`DONE (t=${seconds(E.timings.accumulateMs)}).`);
      const summary = E.summarize();
      console.log(summary.text);
      // per-category numbers only when asked for (a selection per category and metric)
      const rows = values['per-class'] || values.json ? E.perCategory() : [];
      if (values['per-class']) console.log(`\n${formatCategoryTable(rows)}`);

      if (values.json) {
        const perCategory = Object.fromEntries(rows.map(({ id, ...rest }) => [String(id), rest]));
        const out = {
          iouType,
          stats: summary.stats,
          statNames: STAT_NAMES,
          perCategory,
          timingsMs: { loadGt: gt.loadStats.ms, ...E.timings },
        };
        await writeFile(values.json, `${JSON.stringify(out, null, 2)}\n`);
        console.log(`wrote ${values.json}`);
      }
      return 0;
    } catch (err) {
      if (err instanceof CocoFormatError || err instanceof JsonSyntaxError) {
        console.error(`partialnet eval coco: ${err.message}`);
        return 1;
      }
      throw err;
    }
  },
});
