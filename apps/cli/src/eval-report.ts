import { STAT_NAMES, formatCategoryTable } from '@partialnet/coco';
import { writeFileAtomic } from '@partialnet/core';
import { flatMetrics, formatApTable, type DetectionEvalResult, type IouType } from '@partialnet/pipeline';

/** Prints pycocotools' summary and the per-class table per IoU type, and writes the metrics JSON (atomically). */
export async function reportEvaluation(
  r: DetectionEvalResult,
  iouTypes: readonly IouType[],
  metricsFile: string,
  source: { checkpoint: string; iter: number; data: string; shards?: number },
): Promise<void> {
  for (const t of iouTypes) {
    const m = r[t]!;
    for (const w of m.warnings) console.warn(`warning: ${w}`);
    console.log(`\nEvaluate annotation type *${t}* (${m.numResults} results in ${m.resultsFile})\n${m.summary}`);
    console.log(`\nper class (${t}):\n${formatCategoryTable(m.perCategory)}`);
  }
  console.log(`\n${formatApTable(r)}\n${r.images} images, ${r.imgPerSec.toFixed(2)} img/s, ${r.seconds.toFixed(1)} s`);
  const metrics = {
    ...source,
    images: r.images,
    statNames: STAT_NAMES,
    ...Object.fromEntries(iouTypes.map((t) => [t, { stats: r[t]!.stats, perCategory: r[t]!.perCategory }])),
    flat: flatMetrics(r),
  };
  await writeFileAtomic(metricsFile, `${JSON.stringify(metrics, null, 2)}\n`, 'metrics');
}
