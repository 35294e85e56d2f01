import type { tf } from '@partialnet/core';
import type { ImageMeta, InstanceMask, Targets } from '@partialnet/data';

/**
 * What the detectors need of `@partialnet/data`'s per-image targets: a data batch's `targets` fit
 * as they are; hand-made tests may leave out the optional parts.
 */
export type DetectionTargets = Pick<Targets, 'boxes' | 'labels'> & {
  ignoreBoxes?: Float32Array;
  masks?: readonly InstanceMask[];
};

/** What the detectors need of `@partialnet/data`'s ImageMeta (a data batch's metas fit). */
export type DetectionMeta = Pick<ImageMeta, 'imgShape'> & Partial<Pick<ImageMeta, 'padShape' | 'oriShape' | 'scaleFactor' | 'flip'>>;

/** One training batch: a padded, normalised NHWC image tensor plus host-side targets and metas. */
export interface DetectionBatch {
  images: tf.Tensor4D;
  targets: readonly DetectionTargets[];
  metas: readonly DetectionMeta[];
  /**
   * Two-stage detectors on GPU backends: the RPN proposals of this batch, set by `await
   * detector.prepare(batch)` before the forward pass (computing them reads the device, which the
   * gradient tape cannot wait for). On host-memory backends (cpu, wasm) the forward pass computes
   * them from its own RPN outputs and prepare() clears this field.
   */
  proposals?: readonly { boxes: Float32Array; scores: Float32Array }[];
}

/** Detections of one image, in original image coordinates (after undoing resize and flip). */
export interface Detections {
  /** [x1, y1, x2, y2] * n. */
  boxes: Float32Array;
  scores: Float32Array;
  /** Contiguous labels 0..K-1. */
  labels: Int32Array;
  /** One column-major (COCO mask API order) 0/1 mask of the original image per detection. */
  masks?: Uint8Array[];
  /** [height, width] of the masks (the original image). */
  maskShape?: [number, number];
}

/** Named scalar losses, as torchvision detectors return them in training. */
export type LossDict = Record<string, tf.Scalar>;

// Compile-time check that `@partialnet/data`'s batches fit as they are.
type Assert<T extends true> = T;
// eslint-disable-next-line @typescript-eslint/no-unused-vars
type DataTypesFit = Assert<Targets extends DetectionTargets ? (ImageMeta extends DetectionMeta ? true : false) : false>;
