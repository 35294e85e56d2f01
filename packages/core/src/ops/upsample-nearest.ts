import { tf } from '../tf.js';
import type { Tensor4D } from '../tf.js';

/**
 * Nearest-neighbour resize of NHWC `x` to [height, width] with floor and asymmetric coordinates
 * (tf.image.resizeNearestNeighbor's rule without corner alignment, PyTorch's F.interpolate 'nearest').
 * Where the size is a whole multiple of x's, each pixel is repeated as concatenations of copies
 * along new axes: the gradient is then slices and adds, which tfjs-backend-wasm runs as bulk copies
 * (on its kernel pool when large) where its ResizeNearestNeighborGrad walks every output pixel
 * (an FPN's P3 upsampling, [2, 32, 32, 256] to 64x64: 16 ms of one thread per training step).
 * Other sizes go to tf.image.resizeNearestNeighbor.
 */
export function upsampleNearest(x: Tensor4D, [height, width]: [number, number]): Tensor4D {
  const [n, h, w, c] = x.shape;
  const [fh, fw] = [height / h, width / w];
  if (!Number.isInteger(fh) || !Number.isInteger(fw) || fh < 1 || fw < 1) return tf.image.resizeNearestNeighbor(x, [height, width]);
  if (fh === 1 && fw === 1) return x.clone();
  return tf.tidy(() => {
    // each pixel fw times along a new axis after W, then each row fh times along one after H
    const cols = fw === 1 ? x : tf.concat(new Array<tf.Tensor>(fw).fill(tf.reshape(x, [n * h, w, 1, c])), 2);
    const rows = fh === 1 ? cols : tf.concat(new Array<tf.Tensor>(fh).fill(tf.reshape(cols, [n * h, 1, w * fw * c])), 1);
    return tf.reshape(rows, [n, height, width, c]);
  });
}
