/**
 * What the segmentation runner shares with the detection runner of this package (run folders,
 * curves, ImageNet backbone weights, config overrides). When the task-generic runner lands, these
 * become its pieces and this file goes away.
 */
export { resolveCheckpointDir } from '../checkpoint.js';
export { writeTrainingCurve } from '../curve.js';
export { loadBackboneWeights, setTrainMode, type AnyDetector } from '../build.js';
export { mergeOverrides } from '../run-config.js';
