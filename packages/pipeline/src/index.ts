export {
  resolveRunConfig,
  checkRunConfig,
  readRunConfig,
  mergeOverrides,
  iouTypesOf,
  defaultLr,
  RUN_CONFIG_FIELDS,
  type DetectionRunConfig,
  type ResolvedRunConfig,
  type BnMode,
  type DeepPartial,
} from './run-config.js';
export { buildDetector, buildOptimizer, detectionParamGroups, buildSchedule, warmupItersFor, loadBackboneWeights, setTrainMode, type AnyDetector } from './build.js';
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
export { detectionsToCoco, ResultsWriter, JsonArrayWriter, type JsonArrayWriterOptions, type CocoResultEntry, type IouType } from './results.js';
export { evaluateDetections, flatMetrics, formatApTable, type Predictor, type EvaluateOptions, type DetectionEvalResult } from './evaluate.js';
export { CocoEvaluator, scoreResults, resultsFileName, METRIC_SUFFIXES, type CocoEvaluatorOptions, type IouTypeMetrics } from './coco-evaluator.js';
export { openDetectionCheckpoint, resolveCheckpointDir, readRunInfo, type DetectionRunInfo, type OpenedCheckpoint } from './checkpoint.js';
export { parseRunInfo, parseSavedRun } from './run-info.js';
export { curvesFromLog, renderTrainingCurves, writeTrainingCurve, niceTicks, type CurveSeries, type TrainingCurves } from './curve.js';
export { drawDetections, filterDetections, type DrawDetectionsOptions } from './visualize.js';
export { trainDetector, detectionTask, RUNTIME_FIELDS, type TrainDetectorOptions, type TrainDetectorResult } from './detection-task.js';
export { runTraining, resumedConfig, readSavedRun, optimizerFor, OVERRIDE_FIELDS, type RunOptions, type RunResult } from './runner.js';
export type { TaskDefinition, TaskAdapter, TaskModel, RunSettings, RunInfo, RunOverrideRecord, EvalOutcome, SetupContext } from './task.js';
export { prepareRunDir, type PrepareRunDirOptions } from './run-dir.js';
export { TensorBoardWriter, readEventFile, scalarsOfLogRecord, crc32c, maskedCrc32c, tfRecord, encodeScalarEvent, type ScalarEvent } from './tensorboard.js';
export {
  trainClassifier,
  classificationTask,
  evaluateClassifier,
  openClassifierCheckpoint,
  resolveClassificationConfig,
  CLASSIFICATION_RUNTIME_FIELDS,
  type ClassificationRunConfig,
  type ResolvedClassificationConfig,
  type ClassificationRunInfo,
  type ClsBatch,
  type ClsEvalResult,
  type TrainClassifierResult,
} from './classification-task.js';
export { TopKEvaluator, type Evaluator, type ClassificationTargets, type ClassificationOutputs } from './evaluator.js';
export { openDetectionRuntime, exportDetectionCheckpointOnnx, type DetectionRuntime, type DetectionRuntimeOptions, type InferenceRuntime } from './onnx.js';
export { importMmdetCheckpoint, exportMmdet, classCountOf, MMDET_VERSION, type ImportMmdetOptions, type ImportMmdetResult, type ExportMmdetOptions, type ExportMmdetResult } from './mmdet.js';
export { mmdetConfigText, mmdetBackbone, toPython, MMDET_BACKBONE_MODULE, type MmdetConfigOptions } from './mmdet-config.js';
export { parseShard, shardImageIds, shardDataset, evaluateShard, type EvaluateShardOptions, writeShardManifest, readShardManifest, mergeEvalShards, SHARD_MANIFEST, type Shard, type ShardManifest, type MergeShardsOptions, type MergedEvaluation } from './shard.js';
export * from './segmentation/index.js';
