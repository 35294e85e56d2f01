import type { RleObject } from '../mask/api.js';

/** The JSON shapes of COCO instances and results files. */
export interface CocoImage {
  id: number;
  width: number;
  height: number;
  file_name?: string;
  [key: string]: unknown;
}

export interface CocoCategory {
  id: number;
  name: string;
  supercategory?: string;
  [key: string]: unknown;
}

/** Polygons (each [x0, y0, x1, y1, ...]) or an RLE (compressed or not). */
export type Segmentation = number[][] | RleObject;

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  bbox: [number, number, number, number];
  area: number;
  iscrowd?: 0 | 1;
  segmentation?: Segmentation;
  [key: string]: unknown;
}

export interface CocoDataset {
  info?: unknown;
  licenses?: unknown[];
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: CocoCategory[];
  [key: string]: unknown;
}

/** One entry of a results file: a box, a mask, or both. */
export interface CocoResult {
  image_id: number;
  category_id: number;
  score: number;
  bbox?: [number, number, number, number];
  segmentation?: Segmentation;
}

export type IouType = 'bbox' | 'segm';
