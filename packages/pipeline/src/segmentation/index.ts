export { resolveSegRunConfig, readSegRunConfig, recipeIters, ADE20K_RECIPE, SEG_RUN_FIELDS, type SegRunConfig, type ResolvedSegRunConfig, type SegBnMode } from './run-config.js';
export { segTrainLoader, segTestLoader, segTrainData, toSegBatch } from './data.js';
export { evaluateSegmentation, scoreLabelFolders, flatSegMetrics, segMetasOf, type SegPredictor, type SegEvalResult, type EvaluateSegOptions } from './evaluate.js';
export { openSegCheckpoint, readSegRunInfo, type SegRunInfo, type OpenedSegCheckpoint } from './checkpoint.js';
export { vocColor, colorizeLabels, overlayLabels } from './visualize.js';
export { trainSegmenter, segmentationTask, buildSegmenter, SEG_RUNTIME_FIELDS, type TrainSegmenterOptions, type TrainSegmenterResult } from './task.js';
