import { boxOverlaps, numBoxes } from '@partialnet/data/boxes';

export interface MaxIoUAssignerOptions {
  posIouThr: number;
  negIouThr: number;
  /** A gt's best candidates become positive only when their IoU reaches this. */
  minPosIou?: number;
  /** Give each gt its best candidates even below posIouThr (mmdet's match_low_quality). */
  matchLowQuality?: boolean;
  /** With matchLowQuality: every candidate tied at a gt's best IoU, not only the first. */
  gtMaxAssignAll?: boolean;
  /** Candidates whose IoF with an ignore box exceeds this are ignored; <= 0 disables (mmdet's -1). */
  ignoreIofThr?: number;
}

/**
 * Result per candidate: `gtInds` is -1 ignored, 0 negative, i + 1 assigned to gt i (mmdet's
 * assigned_gt_inds); `maxOverlaps` the best IoU; `labels` the assigned gt's label or -1.
 */
export interface AssignResult {
  numGts: number;
  gtInds: Int32Array;
  maxOverlaps: Float32Array;
  labels: Int32Array;
}

/**
 * mmdet's MaxIoUAssigner: negatives below negIouThr, positives at or above posIouThr, the rest
 * ignored; then (matchLowQuality) each gt claims the candidates with its highest IoU if that
 * reaches minPosIou, later gts overwriting earlier ones, exactly as mmdet's loop does.
 */
export class MaxIoUAssigner {
  readonly posIouThr: number;
  readonly negIouThr: number;
  readonly minPosIou: number;
  readonly matchLowQuality: boolean;
  readonly gtMaxAssignAll: boolean;
  readonly ignoreIofThr: number;

  constructor(options: MaxIoUAssignerOptions) {
    this.posIouThr = options.posIouThr;
    this.negIouThr = options.negIouThr;
    this.minPosIou = options.minPosIou ?? 0;
    this.matchLowQuality = options.matchLowQuality ?? true;
    this.gtMaxAssignAll = options.gtMaxAssignAll ?? true;
    this.ignoreIofThr = options.ignoreIofThr ?? -1;
  }

  /**
   * Assigns `candidates` [n, 4] to `gtBoxes` [g, 4]. `valid` (optional, 1 per candidate) marks
   * candidates that take part at all (anchors outside the padded image); invalid ones are ignored.
   */
  assign(candidates: ArrayLike<number>, gtBoxes: ArrayLike<number>, gtLabels?: ArrayLike<number>, ignoreBoxes?: ArrayLike<number>, valid?: ArrayLike<number>): AssignResult {
    const n = numBoxes(candidates);
    const g = numBoxes(gtBoxes);
    const gtInds = new Int32Array(n).fill(-1);
    const maxOverlaps = new Float32Array(n);
    const labels = new Int32Array(n).fill(-1);
    if (g === 0 || n === 0) {
      gtInds.fill(0);
      this.#applyValid(gtInds, valid);
      return { numGts: g, gtInds, maxOverlaps, labels };
    }
    // [n, g]: candidate-major so that each candidate's row is contiguous.
    const overlaps = boxOverlaps(candidates, gtBoxes, 'iou');
    if (this.ignoreIofThr > 0 && ignoreBoxes && ignoreBoxes.length > 0) {
      const iof = boxOverlaps(candidates, ignoreBoxes, 'iof');
      const m = numBoxes(ignoreBoxes);
      for (let i = 0; i < n; i++) {
        let best = 0;
        for (let j = 0; j < m; j++) best = Math.max(best, iof[i * m + j]!);
        if (best > this.ignoreIofThr) overlaps.fill(-1, i * g, (i + 1) * g);
      }
    }
    const argmax = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = -Infinity;
      let arg = 0;
      for (let j = 0; j < g; j++) {
        const v = overlaps[i * g + j]!;
        if (v > best) {
          best = v;
          arg = j;
        }
      }
      maxOverlaps[i] = best;
      argmax[i] = arg;
      if (best >= 0 && best < this.negIouThr) gtInds[i] = 0;
      if (best >= this.posIouThr) gtInds[i] = arg + 1;
    }
    if (this.matchLowQuality) {
      for (let j = 0; j < g; j++) {
        let gtMax = -Infinity;
        let gtArg = 0;
        for (let i = 0; i < n; i++) {
          const v = overlaps[i * g + j]!;
          if (v > gtMax) {
            gtMax = v;
            gtArg = i;
          }
        }
        if (gtMax < this.minPosIou) continue;
        if (this.gtMaxAssignAll) {
          for (let i = 0; i < n; i++) if (overlaps[i * g + j] === gtMax) gtInds[i] = j + 1;
        } else {
          gtInds[gtArg] = j + 1;
        }
      }
    }
    this.#applyValid(gtInds, valid);
    if (gtLabels) for (let i = 0; i < n; i++) if (gtInds[i]! > 0) labels[i] = gtLabels[gtInds[i]! - 1]!;
    return { numGts: g, gtInds, maxOverlaps, labels };
  }

  #applyValid(gtInds: Int32Array, valid?: ArrayLike<number>): void {
    if (!valid) return;
    for (let i = 0; i < gtInds.length; i++) if (!valid[i]) gtInds[i] = -1;
  }
}
