export interface AnchorGeneratorOptions {
  strides: number[];
  ratios: number[];
  /** Explicit scales; or `octaveBaseScale` with `scalesPerOctave` (RetinaNet). */
  scales?: number[];
  octaveBaseScale?: number;
  scalesPerOctave?: number;
  /** Base sizes per level (default: the strides). */
  baseSizes?: number[];
  /** Anchor centre inside its cell as a fraction of the stride (0 in mmdet v2 configs). */
  centerOffset?: number;
}

/**
 * mmdet's AnchorGenerator: for each level a set of base anchors (ratios outer, scales inner,
 * w = base * scale / sqrt(ratio), h = base * scale * sqrt(ratio), centred at offset * stride)
 * shifted over the grid. Anchors of one level are ordered (y, x, anchor), which matches a head
 * output [H, W, A * k] reshaped to [H * W * A, k].
 */
export class AnchorGenerator {
  readonly strides: number[];
  readonly ratios: number[];
  readonly scales: number[];
  readonly baseSizes: number[];
  readonly centerOffset: number;
  readonly #cache = new Map<string, Float32Array>();

  constructor(options: AnchorGeneratorOptions) {
    this.strides = options.strides;
    this.ratios = options.ratios;
    if (options.scales) {
      this.scales = options.scales;
    } else {
      if (options.octaveBaseScale === undefined || options.scalesPerOctave === undefined) {
        throw new Error('AnchorGenerator: give either scales or octaveBaseScale with scalesPerOctave');
      }
      const n = options.scalesPerOctave;
      this.scales = Array.from({ length: n }, (_, i) => 2 ** (i / n) * options.octaveBaseScale!);
    }
    this.baseSizes = options.baseSizes ?? this.strides;
    this.centerOffset = options.centerOffset ?? 0;
  }

  get numLevels(): number {
    return this.strides.length;
  }

  /** Anchors per location. */
  get numBaseAnchors(): number {
    return this.ratios.length * this.scales.length;
  }

  /** Base anchors of one level [A, 4], around the origin cell. */
  baseAnchors(level: number): Float32Array {
    const base = this.baseSizes[level]!;
    const c = this.centerOffset * base;
    const out = new Float32Array(this.numBaseAnchors * 4);
    let k = 0;
    for (const ratio of this.ratios) {
      const hRatio = Math.sqrt(ratio);
      const wRatio = 1 / hRatio;
      for (const scale of this.scales) {
        const w = base * wRatio * scale;
        const h = base * hRatio * scale;
        out[k++] = c - 0.5 * w;
        out[k++] = c - 0.5 * h;
        out[k++] = c + 0.5 * w;
        out[k++] = c + 0.5 * h;
      }
    }
    return out;
  }

  /** Anchors of one level over a [height, width] feature grid: [H * W * A, 4]. Cached. */
  gridAnchors(level: number, height: number, width: number): Float32Array {
    const key = `${level}:${height}x${width}`;
    const hit = this.#cache.get(key);
    if (hit) return hit;
    const base = this.baseAnchors(level);
    const stride = this.strides[level]!;
    const a = this.numBaseAnchors;
    const out = new Float32Array(height * width * a * 4);
    let k = 0;
    for (let y = 0; y < height; y++) {
      const sy = y * stride;
      for (let x = 0; x < width; x++) {
        const sx = x * stride;
        for (let i = 0; i < a; i++) {
          out[k++] = base[4 * i]! + sx;
          out[k++] = base[4 * i + 1]! + sy;
          out[k++] = base[4 * i + 2]! + sx;
          out[k++] = base[4 * i + 3]! + sy;
        }
      }
    }
    this.#cache.set(key, out);
    return out;
  }

  /** All levels concatenated, in the order the heads' outputs are concatenated. */
  allAnchors(sizes: readonly (readonly [number, number])[]): Float32Array {
    const levels = sizes.map(([h, w], l) => this.gridAnchors(l, h, w));
    const out = new Float32Array(levels.reduce((s, l) => s + l.length, 0));
    let off = 0;
    for (const l of levels) {
      out.set(l, off);
      off += l.length;
    }
    return out;
  }

  /**
   * 1 for anchors whose cell lies inside the valid (un-padded) part of the feature map, as
   * mmdet's valid_flags: valid cells are ceil(validSize / stride) per axis.
   */
  validFlags(sizes: readonly (readonly [number, number])[], validShape: readonly [number, number]): Uint8Array {
    const a = this.numBaseAnchors;
    const total = sizes.reduce((s, [h, w]) => s + h * w * a, 0);
    const out = new Uint8Array(total);
    let k = 0;
    sizes.forEach(([h, w], l) => {
      const stride = this.strides[l]!;
      const vh = Math.min(Math.ceil(validShape[0] / stride), h);
      const vw = Math.min(Math.ceil(validShape[1] / stride), w);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const v = y < vh && x < vw ? 1 : 0;
          for (let i = 0; i < a; i++) out[k++] = v;
        }
      }
    });
    return out;
  }
}
