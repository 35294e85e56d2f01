import type { DetectionRunConfig } from '../src/index.js';

/** A RetinaNet small enough to train a few steps in seconds on wasm. */
export function tinyRetina(): DetectionRunConfig {
  return {
    preset: 'retinanet-t0',
    model: { neck: { outChannels: 32 }, head: { featChannels: 32, stackedConvs: 1 } } as never,
    scale: [64, 64],
    epochs: 1,
    batchSize: 2,
    lr: 1e-3,
    warmupIters: 0,
    evalEvery: 0,
    logEvery: 1,
    seed: 5,
  };
}

/** A Mask R-CNN likewise: narrow heads, few proposals and RoIs (the samplers still draw). */
export function tinyMaskRcnn(): DetectionRunConfig {
  return {
    ...tinyRetina(),
    preset: 'mask-rcnn-t0',
    model: {
      neck: { outChannels: 32 },
      rpn: { featChannels: 32, sampler: { num: 64 }, train: { nmsPre: 200, maxPerImg: 50, iouThr: 0.7 } },
      roi: { bbox: { fcChannels: 64, sampler: { num: 16 } }, mask: { convChannels: 16, numConvs: 1 } },
    } as never,
  };
}
