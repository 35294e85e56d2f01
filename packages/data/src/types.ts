/**
 * Plain data types of the pipeline. Conventions (see DESIGN.md): images are RGB uint8, row-major
 * HWC; boxes are [x1, y1, x2, y2] in absolute pixels; labels are contiguous (0..K-1) inside the
 * library, COCO category ids only at the file boundary; masks are row-major (y * width + x), 0/1,
 * unlike the column-major masks of the COCO mask API.
 */

/** A decoded RGB image, row-major HWC uint8. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** COCO run-length encoding (compressed string counts or uncompressed number counts). */
export interface RleLike {
  size: [number, number];
  counts: string | number[];
}

/** How an instance mask is described in a record (what travels to workers). */
export type RecordMask = { polygons: number[][] } | { rle: RleLike };

/**
 * One sample as a dataset describes it before any pixels are read: plain, structured-cloneable
 * data so it can be posted to worker threads.
 */
export interface SampleRecord {
  /** Position in the dataset. */
  index: number;
  /** COCO image id, or a running number for datasets without ids. */
  imageId: number;
  /** Absolute path of the image file. */
  file: string;
  /** Size as stated by the annotations (after EXIF orientation), when known. */
  width?: number;
  height?: number;
  /** Instance targets: boxes [x1,y1,x2,y2]*N, contiguous labels, crowd/ignore regions [x1,y1,x2,y2]*M. */
  boxes?: number[];
  labels?: number[];
  ignoreBoxes?: number[];
  /** One per box when the dataset loads masks. */
  masks?: RecordMask[];
  /** COCO annotation ids, aligned with boxes. */
  annotationIds?: number[];
  /** Semantic label image (PNG, one channel of class ids; 255 = ignore). */
  semanticFile?: string;
  /**
   * mmseg's reduce_zero_label: label 0 ("other", as in ADE20K) becomes 255 (ignored) and every
   * other label moves down by one.
   */
  reduceZeroLabel?: boolean;
  /** Image-level class for classification datasets. */
  classLabel?: number;
}

/** A polygon instance mask: flat [x0, y0, x1, y1, ...] rings in absolute pixels of the current image. */
export interface PolygonMask {
  kind: 'polygons';
  polygons: number[][];
}

/** A bitmap instance mask at the current image size, row-major 0/1. */
export interface BitmapMask {
  kind: 'bitmap';
  data: Uint8Array;
  width: number;
  height: number;
}

export type InstanceMask = PolygonMask | BitmapMask;

/** A single-channel label map (semantic segmentation), row-major. */
export interface LabelMap {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Targets of one image, always in the coordinates of the current (transformed) image. */
export interface Targets {
  /** [x1, y1, x2, y2] * N. */
  boxes: Float32Array;
  /** Contiguous labels, N. */
  labels: Int32Array;
  /** Crowd / ignore regions [x1, y1, x2, y2] * M: not targets, but not background either. */
  ignoreBoxes: Float32Array;
  /** One per box, when loaded. */
  masks?: InstanceMask[];
  /** COCO annotation ids aligned with boxes, when known. */
  annotationIds?: number[];
  /** Semantic label map (255 = ignore), when loaded. */
  semantic?: LabelMap;
  /** Image-level class (image folders). */
  classLabel?: number;
}

/** Per-image record of what the transforms did; enough to map predictions back. */
export interface ImageMeta {
  index: number;
  imageId: number;
  file: string;
  /** [height, width] of the decoded image (after EXIF orientation). */
  oriShape: [number, number];
  /** [height, width] after resizing. */
  imgShape: [number, number];
  /** [height, width] after padding this image to the divisor (the batch may pad further). */
  padShape: [number, number];
  /** Per-axis factors [sx, sy] from original to resized coordinates. */
  scaleFactor: [number, number];
  /** Horizontally flipped (after resizing). */
  flip: boolean;
  /** Normalization applied when the pixels are rendered (RGB order). */
  normalize?: { mean: [number, number, number]; std: [number, number, number] };
  /** Pad divisor recorded by the Pad transform (1 when none). */
  padDivisor: number;
  /** Photometric distortion parameters, when applied. */
  photometric?: PhotometricParams;
}

export interface PhotometricParams {
  brightness: number;
  contrast: number;
  contrastFirst: boolean;
  saturation: number;
  hue: number;
}
