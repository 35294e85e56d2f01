import type { IouType } from '../format/types.js';
import { linspace } from './numpy.js';

/** pycocotools' Params for bbox / segm evaluation. */
export interface Params {
  iouType: IouType;
  /** Images to evaluate; empty means every ground-truth image. */
  imgIds: number[];
  /** Categories to evaluate; empty means every ground-truth category. */
  catIds: number[];
  /** np.linspace(.5, .95, 10): the 9th is 0.8999999999999999. */
  iouThrs: number[];
  /** np.linspace(0, 1, 101). */
  recThrs: number[];
  maxDets: number[];
  areaRng: [number, number][];
  areaRngLbl: string[];
  /** When false, categories are ignored (every detection may match every ground truth). */
  useCats: boolean;
}

export function defaultParams(iouType: IouType = 'bbox'): Params {
  return {
    iouType,
    imgIds: [],
    catIds: [],
    iouThrs: linspace(0.5, 0.95, Math.round((0.95 - 0.5) / 0.05) + 1),
    recThrs: linspace(0, 1, Math.round((1 - 0) / 0.01) + 1),
    maxDets: [1, 10, 100],
    areaRng: [
      [0, 1e5 ** 2],
      [0, 32 ** 2],
      [32 ** 2, 96 ** 2],
      [96 ** 2, 1e5 ** 2],
    ],
    areaRngLbl: ['all', 'small', 'medium', 'large'],
    useCats: true,
  };
}

/** np.unique: sorted, without repeats. */
export function uniqueSorted(ids: readonly number[]): number[] {
  const s = [...ids].sort((a, b) => a - b);
  return s.filter((v, i) => i === 0 || v !== s[i - 1]);
}
