/**
 * Pastes per-instance probability masks (m x m, row-major, box-relative) into full images, as
 * mmdet's _do_paste_mask: every image pixel centre is mapped into the box, sampled bilinearly
 * from the m x m mask with zero padding (grid_sample, align_corners = false), then thresholded
 * (>= threshold). The result is column-major (x * height + y): the COCO mask API's order, ready for
 * `encode` from @partialnet/coco.
 *
 * Only pixels within one pixel of the box are computed (mmdet's skip_empty path); outside that the
 * sample lies at least half a mask cell beyond the border and can never reach the threshold.
 */
export function pasteMask(mask: ArrayLike<number>, m: number, box: ArrayLike<number>, height: number, width: number, threshold = 0.5, flipMask = false): Uint8Array {
  const out = new Uint8Array(height * width);
  const [x0, y0, x1, y1] = [box[0]!, box[1]!, box[2]!, box[3]!];
  const bw = x1 - x0;
  const bh = y1 - y0;
  if (!(bw > 0) || !(bh > 0)) return out;
  const xs = Math.max(Math.floor(x0) - 1, 0);
  const xe = Math.min(Math.ceil(x1) + 1, width);
  const ys = Math.max(Math.floor(y0) - 1, 0);
  const ye = Math.min(Math.ceil(y1) + 1, height);
  const at = (r: number, c: number): number => {
    if (r < 0 || r >= m || c < 0 || c >= m) return 0;
    return mask[r * m + (flipMask ? m - 1 - c : c)]!;
  };
  // Horizontal taps are the same for every row.
  const cx0 = new Int32Array(Math.max(xe - xs, 0));
  const cwx = new Float64Array(Math.max(xe - xs, 0));
  for (let x = xs; x < xe; x++) {
    const ix = ((x + 0.5 - x0) / bw) * m - 0.5;
    const f = Math.floor(ix);
    cx0[x - xs] = f;
    cwx[x - xs] = ix - f;
  }
  for (let y = ys; y < ye; y++) {
    const iy = ((y + 0.5 - y0) / bh) * m - 0.5;
    const r = Math.floor(iy);
    const ly = iy - r;
    for (let x = xs; x < xe; x++) {
      const c = cx0[x - xs]!;
      const lx = cwx[x - xs]!;
      const v = (1 - ly) * ((1 - lx) * at(r, c) + lx * at(r, c + 1)) + ly * ((1 - lx) * at(r + 1, c) + lx * at(r + 1, c + 1));
      if (v >= threshold) out[x * height + y] = 1;
    }
  }
  return out;
}

/** pasteMask over n instances: `masks` [n, m, m], `boxes` [n, 4] in the target image's pixels. */
export function pasteMasks(masks: ArrayLike<number>, m: number, boxes: ArrayLike<number>, height: number, width: number, threshold = 0.5, flipMask = false): Uint8Array[] {
  const n = boxes.length / 4;
  const out: Uint8Array[] = [];
  const sub = (i: number) => (masks instanceof Float32Array ? masks.subarray(i * m * m, (i + 1) * m * m) : Array.prototype.slice.call(masks, i * m * m, (i + 1) * m * m));
  for (let i = 0; i < n; i++) out.push(pasteMask(sub(i), m, [boxes[4 * i]!, boxes[4 * i + 1]!, boxes[4 * i + 2]!, boxes[4 * i + 3]!], height, width, threshold, flipMask));
  return out;
}
