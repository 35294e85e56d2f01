export {
  resolveRunConfig,
  checkRunConfig,
  readRunConfig,
  mergeOverrides,
  iouTypesOf,
  RUN_CONFIG_FIELDS,
  type DetectionRunConfig,
  type ResolvedRunConfig,
  type BnMode,
  type DeepPartial,
} from './run-config.js';
export { buildDetector, buildOptimizer, buildSchedule, warmupItersFor, loadBackboneWeights, setTrainMode, type AnyDetector } from './build.js';
export {
  resolveSplit,
  openDetectionSplit,
  checkSameCategories,
  detectionTrainLoader,
  detectionTestLoader,
  detectionTrainData,
  toDetectionBatch,
  type SplitFiles,
  type DetectionSplit,
  type TrainLoaderOptions,
} from './data.js';
export { detectionsToCoco, ResultsWriter, type CocoResultEntry, type IouType } from './results.js';
export {
  evaluateDetections,
  scoreResults,
  flatMetrics,
  formatApTable,
  METRIC_SUFFIXES,
  type Predictor,
  type EvaluateOptions,
  type DetectionEvalResult,
  type IouTypeMetrics,
} from './evaluate.js';
export { openDetectionCheckpoint, resolveCheckpointDir, readRunInfo, type DetectionRunInfo, type OpenedCheckpoint } from './checkpoint.js';
export { curvesFromLog, renderTrainingCurves, writeTrainingCurve, niceTicks, type CurveSeries, type TrainingCurves } from './curve.js';
export { drawDetections, filterDetections, type DrawDetectionsOptions } from './visualize.js';
export { trainDetector, RUNTIME_FIELDS, type TrainDetectorOptions, type TrainDetectorResult } from './runner.js';
