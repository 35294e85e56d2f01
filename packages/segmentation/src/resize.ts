import { tf } from '@partialnet/core';

/**
 * Bilinear resize of NHWC maps as PyTorch's `F.interpolate(mode='bilinear', align_corners=False)`:
 * half-pixel centres, source coordinates clamped at 0 and at the last row / column, no
 * antialiasing. tfjs's resizeBilinear with alignCorners false and halfPixelCenters true computes
 * exactly that (tested against a float64 reference in test/resize.test.ts) and has a gradient on
 * every backend.
 */
export function resizeBilinear(x: tf.Tensor4D, size: readonly [number, number]): tf.Tensor4D {
  if (x.shape[1] === size[0] && x.shape[2] === size[1]) return tf.clone(x);
  return tf.image.resizeBilinear(x, [size[0], size[1]], false, true);
}
