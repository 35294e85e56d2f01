import { Module, tf, type OnnxGraph } from '@partialnet/core';
import { PartialNet } from '@partialnet/backbone';
import type { BackboneConfig } from './config.js';
import { FPN, type FpnConfig } from './fpn.js';
import type { DetectionBatch, DetectionMeta, Detections, LossDict } from './types.js';

export interface PredictOptions {
  /** Map boxes (and paste masks) to the original image (default true); else the network input's. */
  rescale?: boolean;
}

/**
 * What RetinaNet and Mask R-CNN share: a PartialNet backbone (`backbone.*`, its official names)
 * and an FPN neck (`neck.*`) built from the backbone's featureInfo. `forward` returns named
 * losses (training), `predict` detections; neither leaves tensors behind.
 */
export abstract class Detector extends Module {
  readonly backbone: PartialNet;
  readonly neck: FPN;
  /** Name prefixes (`backbone.stages.0.`) of the frozen part of the backbone. */
  readonly frozenPrefixes: string[];

  constructor(backbone: BackboneConfig, neck: FpnConfig) {
    super();
    const k = backbone.frozenStages ?? -1;
    this.frozenPrefixes = k < 0 ? [] : ['backbone.patch_embed.', ...Array.from({ length: Math.max(2 * k - 1, 0) }, (_, j) => `backbone.stages.${j}.`)];
    this.backbone = this.addChild('backbone', PartialNet.create(backbone.variant, { ...backbone.config, numClasses: 0, ...(backbone.dropPath !== undefined ? { dropPath: backbone.dropPath } : {}) }));
    this.neck = this.addChild('neck', new FPN(this.backbone.featureInfo(), neck));
  }

  #isFrozen(name: string): boolean {
    return this.frozenPrefixes.some((p) => name.startsWith(p) || `${name}.` === p);
  }

  override parameters(): tf.Variable[] {
    if (this.frozenPrefixes.length === 0) return super.parameters();
    const frozen = new Set([...this.namedParameters()].filter(([n]) => this.#isFrozen(n)).map(([, v]) => v));
    return super.parameters().filter((v) => !frozen.has(v));
  }

  override train(mode = true): this {
    super.train(mode);
    if (mode) for (const [name, m] of this.namedModules()) if (name && this.#isFrozen(name)) m.train(false);
    return this;
  }

  /**
   * Restarts every random stream the model draws from in training (samplers), from `seed`. The
   * runner calls it before each step with a seed derived from the step's position, so a resumed
   * run draws what an uninterrupted one would. Models without such streams ignore it.
   */
  reseed(_seed: number): void {}

  /** FPN maps of a batch, finest first. The caller disposes them. */
  extractFeatures(images: tf.Tensor4D): tf.Tensor4D[] {
    return tf.tidy(() => this.neck.forward(this.backbone.features(images)));
  }

  /**
   * Work that must read the device before the forward pass of a training step, outside the
   * gradient tape (which cannot wait): Mask R-CNN's proposals on GPU backends (on cpu / wasm the
   * forward pass reads them itself, from the same RPN outputs). Call `await model.prepare(batch)`
   * before `forward(batch)`; a no-op for one-stage detectors.
   */
  async prepare(_batch: DetectionBatch): Promise<void> {}

  abstract forward(batch: DetectionBatch): LossDict;
  abstract predict(images: tf.Tensor4D, metas: readonly DetectionMeta[], options?: PredictOptions): Promise<Detections[]>;

  /**
   * ONNX: the dense part after the neck (heads' raw outputs, and the FPN maps where the
   * post-processing needs them), as output name -> NCHW value. `exportDetectorOnnx` adds the
   * backbone and neck in front.
   */
  abstract denseOnnx(g: OnnxGraph, fpn: readonly string[]): Record<string, string>;

  /**
   * Detections from the dense outputs that `denseOnnx` names, given as NHWC tensors (what the
   * tfjs path computes itself): the TypeScript post-processing, shared by both runtimes. Does not
   * dispose `dense`.
   */
  abstract predictFromDense(dense: Readonly<Record<string, tf.Tensor4D>>, metas: readonly DetectionMeta[], options?: PredictOptions): Promise<Detections[]>;

  protected checkBatch(batch: DetectionBatch): void {
    const n = batch.images.shape[0];
    if (batch.targets.length !== n || batch.metas.length !== n) {
      throw new Error(`${this.constructor.name}: batch of ${n} images has ${batch.targets.length} targets and ${batch.metas.length} metas`);
    }
    batch.targets.forEach((t, i) => {
      if (t.boxes.length !== 4 * t.labels.length) throw new Error(`${this.constructor.name}: image ${i} has ${t.boxes.length / 4} boxes but ${t.labels.length} labels`);
    });
  }
}
