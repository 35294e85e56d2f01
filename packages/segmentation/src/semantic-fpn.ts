import { Module, tf } from '@partialnet/core';
import { PartialNet } from '@partialnet/backbone';
import { FPN } from '@partialnet/detection/layers';
import type { SemanticFpnConfig, SegTestMode } from './config.js';
import { FpnHead } from './fpn-head.js';
import { slideLogits } from './inference.js';
import { segCrossEntropy } from './losses.js';
import { resizeBilinear } from './resize.js';

/** A training batch: normalised NHWC images and labels N*H*W (uint8, 255 = ignore) of the same H and W. */
export interface SegBatch {
  images: tf.Tensor4D;
  labels: Uint8Array;
}

/** What inference needs of each image of a padded batch (a subset of @partialnet/data's ImageMeta). */
export interface SegMeta {
  /** [height, width] of the image inside the padded batch. */
  imgShape: [number, number];
  /** [height, width] to predict at (the original image). */
  oriShape: [number, number];
  /** The batch image is the original mirrored: predictions are mirrored back. */
  flip: boolean;
}

export interface SegPredictOptions {
  /** Overrides the config's test mode. */
  test?: SegTestMode;
  /** Also predict on the mirrored images and average the probabilities (mmseg's flip TTA). */
  flip?: boolean;
  /**
   * Test-time scales as ratios of the given batch (mmseg's MultiScaleFlipAug img_ratios, e.g.
   * [0.5, 0.75, 1, 1.25, 1.5, 1.75]); probabilities are averaged. Default [1].
   */
  scales?: number[];
}

/** A predicted label map at the original image size. */
export interface SegPrediction {
  data: Uint8Array;
  width: number;
  height: number;
}

export type SegLossDict = Record<string, tf.Scalar>;

/**
 * Semantic FPN (Kirillov et al., "Panoptic Feature Pyramid Networks") as mmseg builds it: a
 * PartialNet backbone (`backbone.*`, official names), an FPN on its four levels (`neck.*`, shared
 * with @partialnet/detection: `lateral_convs.N.conv`, `fpn_convs.N.conv`) and FPNHead
 * (`decode_head.scale_heads.N.M.{conv,bn}`, `decode_head.conv_seg`). Logits come out at stride 4
 * and are resized bilinearly (align_corners false) to the input size.
 */
export class SemanticFPN extends Module {
  readonly backbone: PartialNet;
  readonly neck: FPN;
  readonly decodeHead: FpnHead;

  constructor(readonly config: SemanticFpnConfig) {
    super();
    if (!(Number.isInteger(config.numClasses) && config.numClasses >= 1 && config.numClasses <= 255)) {
      throw new Error(`SemanticFPN: numClasses must be an integer in 1..255 (labels are uint8, 255 = ignore), got ${config.numClasses}`);
    }
    if (config.neck.numOuts !== 4 || config.neck.startLevel !== 0) throw new Error(`SemanticFPN: the neck must use the four backbone levels (startLevel 0, numOuts 4), got ${JSON.stringify(config.neck)}`);
    const b = config.backbone;
    this.backbone = this.addChild('backbone', PartialNet.create(b.variant, { numClasses: 0, ...(b.dropPath !== undefined ? { dropPath: b.dropPath } : {}) }));
    this.neck = this.addChild('neck', new FPN(this.backbone.featureInfo(), config.neck));
    this.decodeHead = this.addChild(
      'decode_head',
      new FpnHead({ inputs: this.neck.outputInfo, channels: config.head.channels, numClasses: config.numClasses, dropoutRatio: config.head.dropoutRatio }),
    );
  }

  get numClasses(): number {
    return this.config.numClasses;
  }

  /** Logits [N, H/4, W/4, K] of the decode head (mmseg's encode_decode before the resize). */
  headLogits(images: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const feats = this.backbone.features(images);
      const pyramid = this.neck.forward(feats);
      tf.dispose(feats);
      return this.decodeHead.forward(pyramid);
    });
  }

  /** Logits [N, H, W, K] at the input's size (mmseg's encode_decode). */
  logits(images: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => resizeBilinear(this.headLogits(images), [images.shape[1], images.shape[2]]));
  }

  /** Training losses: `decode.loss_ce` (logits resized to the label size, ignore index skipped). */
  forward(batch: SegBatch): SegLossDict {
    const [n, h, w] = batch.images.shape;
    if (batch.labels.length !== n * h * w) throw new Error(`SemanticFPN: ${batch.labels.length} labels for a batch of ${n} images of ${h}x${w}`);
    const { ignoreIndex, avgNonIgnore, lossWeight } = this.config.head;
    const K = this.config.numClasses;
    for (let i = 0; i < batch.labels.length; i++) {
      const v = batch.labels[i]!;
      if (v >= K && v !== ignoreIndex) throw new Error(`SemanticFPN: label ${v} at pixel ${i % (h * w)} of image ${Math.floor(i / (h * w))} is neither a class (0..${K - 1}) nor the ignore index ${ignoreIndex}`);
    }
    const loss = tf.tidy(() => {
      const logits = this.logits(batch.images);
      const labels = tf.tensor3d(Int32Array.from(batch.labels), [n, h, w], 'int32');
      const ce = segCrossEntropy(logits, labels, { ignoreIndex, avgNonIgnore });
      return (lossWeight === 1 ? ce : tf.mul(ce, lossWeight)) as tf.Scalar;
    });
    return { 'decode.loss_ce': loss };
  }

  /** Logits at the batch size by the test mode (whole image, or averaged sliding windows). */
  inferenceLogits(images: tf.Tensor4D, test: SegTestMode = this.config.test): tf.Tensor4D {
    if (test.mode === 'whole') return this.logits(images);
    return slideLogits(images, test.crop, test.stride, (x) => this.logits(x));
  }

  /**
   * Per-pixel class probabilities [N, H, W, K] (softmax) at the padded batch size, averaged over
   * the test-time variants (scales x flips) as mmseg's TTA averages them. Without augmentation
   * these are the softmax of the logits, so the argmax is the same.
   */
  probabilities(images: tf.Tensor4D, o: SegPredictOptions = {}): tf.Tensor4D {
    const scales = o.scales ?? [1];
    const flips = o.flip ? [false, true] : [false];
    const [, H, W] = images.shape;
    return tf.tidy(() => {
      let sum: tf.Tensor4D | undefined;
      for (const r of scales) {
        if (!(r > 0)) throw new Error(`test scale ratios must be positive, got ${r}`);
        const size: [number, number] = [Math.max(32, Math.round(H * r)), Math.max(32, Math.round(W * r))];
        for (const f of flips) {
          const p = tf.tidy(() => {
            let x = r === 1 ? images : resizeBilinear(images, size);
            if (f) x = tf.reverse(x, 2);
            let logits = this.inferenceLogits(x, o.test);
            if (f) logits = tf.reverse(logits, 2);
            if (r !== 1) logits = resizeBilinear(logits, [H, W]);
            const prob = tf.softmax(logits) as tf.Tensor4D;
            return sum ? (tf.add(sum, prob) as tf.Tensor4D) : prob;
          });
          sum?.dispose();
          sum = p;
        }
      }
      const k = scales.length * flips.length;
      return k === 1 ? sum! : (tf.div(sum!, k) as tf.Tensor4D);
    });
  }

  /**
   * Label maps at each image's original size: probabilities (see `probabilities`) cropped to the
   * image inside the padded batch, resized bilinearly to `oriShape`, mirrored back when the batch
   * image was flipped, then the argmax. Reads the result with `await data()` (GPU backends).
   */
  async predict(images: tf.Tensor4D, metas: readonly SegMeta[], o: SegPredictOptions = {}): Promise<SegPrediction[]> {
    if (metas.length !== images.shape[0]) throw new Error(`SemanticFPN.predict: ${images.shape[0]} images but ${metas.length} metas`);
    const probs = this.probabilities(images, o);
    try {
      const out: SegPrediction[] = [];
      for (let i = 0; i < metas.length; i++) {
        const m = metas[i]!;
        const labels = tf.tidy(() => {
          const [h, w] = m.imgShape;
          const one = tf.slice(probs, [i, 0, 0, 0], [1, h, w, probs.shape[3]]) as tf.Tensor4D;
          let full = resizeBilinear(one, m.oriShape);
          if (m.flip) full = tf.reverse(full, 2);
          return tf.argMax(full, 3);
        });
        const data = await labels.data();
        labels.dispose();
        out.push({ data: Uint8Array.from(data), width: m.oriShape[1], height: m.oriShape[0] });
      }
      return out;
    } finally {
      probs.dispose();
    }
  }
}
