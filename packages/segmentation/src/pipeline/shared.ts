/**
 * What this pipeline borrows from detection's run machinery (run folders, curves, ImageNet
 * backbone weights, config overrides). When the task-generic @partialnet/pipeline lands, these
 * imports move there and this file is the only one to change.
 */
export { resolveCheckpointDir, writeTrainingCurve, loadBackboneWeights, setTrainMode, mergeOverrides, type AnyDetector } from '@partialnet/detection';
