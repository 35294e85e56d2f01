export type Vec4 = [number, number, number, number];

export interface DeltaCoderOptions {
  means?: Vec4;
  stds?: Vec4;
  /** Largest |log| scale change decode allows: |log(16/1000)| as mmdet. */
  whRatioClip?: number;
}

/**
 * mmdet's DeltaXYWHBBoxCoder on host arrays: (dx, dy, dw, dh) = ((gx - px) / pw, (gy - py) / ph,
 * log(gw / pw), log(gh / ph)), normalised by means and stds; decode clamps dw/dh and clips to the
 * image when given its [height, width].
 */
export class DeltaXYWHCoder {
  readonly means: Vec4;
  readonly stds: Vec4;
  readonly maxRatio: number;

  constructor(options: DeltaCoderOptions = {}) {
    this.means = options.means ?? [0, 0, 0, 0];
    this.stds = options.stds ?? [1, 1, 1, 1];
    this.maxRatio = Math.abs(Math.log(options.whRatioClip ?? 16 / 1000));
  }

  /** Deltas [n, 4] that move `proposals` onto `gts` (both [n, 4]). */
  encode(proposals: ArrayLike<number>, gts: ArrayLike<number>): Float32Array {
    if (proposals.length !== gts.length) throw new Error(`DeltaXYWHCoder.encode: ${proposals.length / 4} proposals but ${gts.length / 4} targets`);
    const out = new Float32Array(proposals.length);
    const [m0, m1, m2, m3] = this.means;
    const [s0, s1, s2, s3] = this.stds;
    for (let i = 0; i < proposals.length; i += 4) {
      const pw = proposals[i + 2]! - proposals[i]!;
      const ph = proposals[i + 3]! - proposals[i + 1]!;
      const px = (proposals[i]! + proposals[i + 2]!) * 0.5;
      const py = (proposals[i + 1]! + proposals[i + 3]!) * 0.5;
      const gw = gts[i + 2]! - gts[i]!;
      const gh = gts[i + 3]! - gts[i + 1]!;
      const gx = (gts[i]! + gts[i + 2]!) * 0.5;
      const gy = (gts[i + 1]! + gts[i + 3]!) * 0.5;
      out[i] = ((gx - px) / pw - m0) / s0;
      out[i + 1] = ((gy - py) / ph - m1) / s1;
      out[i + 2] = (Math.log(gw / pw) - m2) / s2;
      out[i + 3] = (Math.log(gh / ph) - m3) / s3;
    }
    return out;
  }

  /**
   * Boxes from `deltas` [n, 4] applied to `rois` [n, 4] (or to one roi per `deltasPerRoi` group of
   * deltas: class-specific regression decodes [n, 4K] against [n, 4]). Clipped to `maxShape`
   * ([height, width]) when given.
   */
  decode(rois: ArrayLike<number>, deltas: ArrayLike<number>, maxShape?: readonly [number, number], deltasPerRoi = 1): Float32Array {
    if (deltas.length !== rois.length * deltasPerRoi) throw new Error(`DeltaXYWHCoder.decode: ${rois.length / 4} rois do not fit ${deltas.length / 4} deltas`);
    const out = new Float32Array(deltas.length);
    const [m0, m1, m2, m3] = this.means;
    const [s0, s1, s2, s3] = this.stds;
    const r = this.maxRatio;
    for (let i = 0; i < deltas.length; i += 4) {
      const j = 4 * Math.floor(i / (4 * deltasPerRoi));
      const pw = rois[j + 2]! - rois[j]!;
      const ph = rois[j + 3]! - rois[j + 1]!;
      const px = (rois[j]! + rois[j + 2]!) * 0.5;
      const py = (rois[j + 1]! + rois[j + 3]!) * 0.5;
      const dx = deltas[i]! * s0 + m0;
      const dy = deltas[i + 1]! * s1 + m1;
      const dw = Math.min(Math.max(deltas[i + 2]! * s2 + m2, -r), r);
      const dh = Math.min(Math.max(deltas[i + 3]! * s3 + m3, -r), r);
      const gw = pw * Math.exp(dw);
      const gh = ph * Math.exp(dh);
      const gx = px + pw * dx;
      const gy = py + ph * dy;
      let x1 = gx - gw * 0.5;
      let y1 = gy - gh * 0.5;
      let x2 = gx + gw * 0.5;
      let y2 = gy + gh * 0.5;
      if (maxShape) {
        const [h, w] = maxShape;
        x1 = Math.min(Math.max(x1, 0), w);
        y1 = Math.min(Math.max(y1, 0), h);
        x2 = Math.min(Math.max(x2, 0), w);
        y2 = Math.min(Math.max(y2, 0), h);
      }
      out[i] = x1;
      out[i + 1] = y1;
      out[i + 2] = x2;
      out[i + 3] = y2;
    }
    return out;
  }
}
