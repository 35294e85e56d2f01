import { topKCorrect } from '@partialnet/backbone';

/**
 * Evaluation as an object (detectron2's DatasetEvaluator): `reset`, then `process` every batch's
 * inputs and model outputs, then `evaluate` for flat metrics. Shards evaluated apart combine with
 * `merge` before `evaluate`. Evaluators that stream to files (COCO) are asynchronous.
 */
export interface Evaluator<I, O> {
  reset(): void | Promise<void>;
  process(inputs: I, outputs: O): void | Promise<void>;
  /** Flat metrics for log.jsonl / TensorBoard. */
  evaluate(): Record<string, number> | Promise<Record<string, number>>;
  /** Adds another evaluator's processed batches to this one's. */
  merge(other: this): void | Promise<void>;
}

/** What the top-k evaluator is given per batch. */
export interface ClassificationTargets {
  labels: ArrayLike<number>;
}
export interface ClassificationOutputs {
  /** Row-major [batch, numClasses]. */
  logits: ArrayLike<number>;
  /** Per-sample cross-entropy (optional; gives `valLoss`). */
  losses?: ArrayLike<number>;
}

/** Top-1 / top-k accuracy in percent and the mean cross-entropy. */
export class TopKEvaluator implements Evaluator<ClassificationTargets, ClassificationOutputs> {
  readonly k: number;
  #images = 0;
  #top1 = 0;
  #topk = 0;
  #lossSum = 0;
  #lossCount = 0;

  constructor(
    readonly numClasses: number,
    k = 5,
  ) {
    this.k = Math.min(k, numClasses);
  }

  reset(): void {
    this.#images = this.#top1 = this.#topk = this.#lossSum = this.#lossCount = 0;
  }

  process(inputs: ClassificationTargets, outputs: ClassificationOutputs): void {
    const n = inputs.labels.length;
    if (outputs.logits.length !== n * this.numClasses) throw new Error(`TopKEvaluator: ${outputs.logits.length} logits for ${n} labels of ${this.numClasses} classes`);
    const [top1, topk] = topKCorrect(outputs.logits, inputs.labels, this.numClasses, [1, this.k]);
    this.#top1 += top1!;
    this.#topk += topk!;
    this.#images += n;
    if (outputs.losses) {
      for (let i = 0; i < outputs.losses.length; i++) this.#lossSum += outputs.losses[i]!;
      this.#lossCount += outputs.losses.length;
    }
  }

  merge(other: TopKEvaluator): void {
    if (other.numClasses !== this.numClasses || other.k !== this.k) throw new Error('TopKEvaluator.merge: different class counts or k');
    this.#images += other.#images;
    this.#top1 += other.#top1;
    this.#topk += other.#topk;
    this.#lossSum += other.#lossSum;
    this.#lossCount += other.#lossCount;
  }

  get images(): number {
    return this.#images;
  }

  evaluate(): Record<string, number> {
    const n = Math.max(this.#images, 1);
    return {
      top1: (100 * this.#top1) / n,
      [`top${this.k}`]: (100 * this.#topk) / n,
      ...(this.#lossCount > 0 ? { valLoss: this.#lossSum / this.#lossCount } : {}),
    };
  }
}
