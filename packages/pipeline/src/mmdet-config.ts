import { resolveConfig, stageWidth } from '@partialnet/backbone/layers';
import type { DetectorConfig, MaskRcnnConfig, RetinaNetConfig } from '@partialnet/detection';
import type { DeltaCoderOptions, MaxIoUAssignerOptions, RandomSamplerOptions } from '@partialnet/detection/ops';
import type { ResolvedRunConfig } from './run-config.js';

/**
 * An mmdetection 2.x config file (plain Python assignments, no `_base_` inheritance) equivalent to
 * a run config: model with train / test cfg, data pipeline, optimizer, schedule and runtime. Data
 * paths are placeholders to edit. The backbone is the official PartialNet model code registered
 * under `PartialNetTS` by the `partialnet_backbone.py` written beside it.
 */

/** Python source of a value: dicts as `dict(k=v)`, tuples, lists, strings, True/False/None. */
export class Py {
  constructor(readonly code: string) {}
}
export function pyTuple(items: unknown[]): Py {
  return new Py(`(${items.map((v) => toPython(v)).join(', ')}${items.length === 1 ? ',' : ''})`);
}

export function toPython(v: unknown, indent = 0): string {
  const pad = ' '.repeat(indent + 4);
  if (v instanceof Py) return v.code;
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`toPython: ${v} has no Python literal`);
    return String(v);
  }
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
  if (Array.isArray(v)) {
    const parts = v.map((x) => toPython(x, indent + 4));
    const flat = `[${parts.join(', ')}]`;
    return flat.length + indent < 100 && !flat.includes('\n') ? flat : `[\n${parts.map((p) => pad + p).join(',\n')}\n${' '.repeat(indent)}]`;
  }
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    const parts = entries.map(([k, x]) => `${k}=${toPython(x, indent + 4)}`);
    const flat = `dict(${parts.join(', ')})`;
    return flat.length + indent < 100 && !flat.includes('\n') ? flat : `dict(\n${parts.map((p) => pad + p).join(',\n')})`;
  }
  throw new Error(`toPython: cannot write ${typeof v}`);
}

const nms = (iou: number) => ({ type: 'nms', iou_threshold: iou });
// Undefined fields take the same defaults as our implementations (and mmdet's).
const coder = (c: DeltaCoderOptions) => ({ type: 'DeltaXYWHBBoxCoder', target_means: [...(c.means ?? [0, 0, 0, 0])], target_stds: [...(c.stds ?? [1, 1, 1, 1])] });
const assigner = (a: MaxIoUAssignerOptions) => ({
  type: 'MaxIoUAssigner',
  pos_iou_thr: a.posIouThr,
  neg_iou_thr: a.negIouThr,
  min_pos_iou: a.minPosIou ?? 0,
  match_low_quality: a.matchLowQuality ?? true,
  ignore_iof_thr: a.ignoreIofThr ?? -1,
});
const sampler = (s: RandomSamplerOptions, addGt: boolean) => ({
  type: 'RandomSampler',
  num: s.num,
  pos_fraction: s.posFraction,
  neg_pos_ub: s.negPosUb ?? -1,
  add_gt_as_proposals: addGt,
});

/** The backbone dict: the official `PartialNet` constructor's kwargs. */
export function mmdetBackbone(model: DetectorConfig): Record<string, unknown> {
  const b = model.backbone;
  const c = resolveConfig(b.variant, { ...b.config, numClasses: 0, ...(b.dropPath !== undefined ? { dropPath: b.dropPath } : {}) });
  if (c.nDivPerBlock) {
    throw new Error('mmdet export: the official PartialNet takes one n_div for every block; a backbone with per-block splits (nDivPerBlock) has no equivalent mmdet config');
  }
  if (c.autoDiv) throw new Error('mmdet export: a DPConv (autoDiv) backbone is not supported; bake its splits first');
  return {
    type: 'PartialNetTS',
    embed_dim: c.embedDim,
    depths: pyTuple([...c.depths]),
    mlp_ratio: new Py(c.mlpRatio.toFixed(1)),
    n_div: c.nDiv,
    feature_dim: c.featureDim,
    drop_path_rate: c.dropPath,
    act_layer: c.act === 'gelu' ? 'GELU' : 'RELU',
    use_channel_attn: c.channelAttn,
    use_spatial_attn: c.spatialAttn,
    patnet_t0: true,
    fork_feat: true,
    // mmdet's frozen_stages / norm_eval: the official model ignores both (see the README).
  };
}

function neck(model: DetectorConfig): Record<string, unknown> {
  const c = resolveConfig(model.backbone.variant, { ...model.backbone.config, numClasses: 0 });
  return {
    type: 'FPN',
    in_channels: [0, 1, 2, 3].map((i) => stageWidth(c, i)),
    out_channels: model.neck.outChannels,
    ...(model.neck.startLevel ? { start_level: model.neck.startLevel } : {}),
    ...(model.neck.extra === 'on_input' ? { add_extra_convs: 'on_input' } : {}),
    num_outs: model.neck.numOuts,
  };
}

function maskRcnnModel(m: MaskRcnnConfig): Record<string, unknown> {
  const roi = m.roi;
  const extractor = (size: number) => ({
    type: 'SingleRoIExtractor',
    roi_layer: { type: 'RoIAlign', output_size: size, sampling_ratio: roi.samplingRatio },
    out_channels: m.neck.outChannels,
    featmap_strides: [...roi.strides],
  });
  return {
    type: 'MaskRCNN',
    backbone: mmdetBackbone(m),
    neck: neck(m),
    rpn_head: {
      type: 'RPNHead',
      in_channels: m.neck.outChannels,
      feat_channels: m.rpn.featChannels,
      anchor_generator: { type: 'AnchorGenerator', scales: [...(m.rpn.anchor.scales ?? [8])], ratios: [...m.rpn.anchor.ratios], strides: [...m.rpn.anchor.strides] },
      bbox_coder: coder(m.rpn.coder),
      loss_cls: { type: 'CrossEntropyLoss', use_sigmoid: true, loss_weight: 1.0 },
      loss_bbox: { type: 'L1Loss', loss_weight: 1.0 },
    },
    roi_head: {
      type: 'StandardRoIHead',
      bbox_roi_extractor: extractor(roi.bbox.roiSize),
      bbox_head: {
        type: roi.bbox.numSharedFcs === 2 ? 'Shared2FCBBoxHead' : 'ConvFCBBoxHead',
        ...(roi.bbox.numSharedFcs === 2 ? {} : { num_shared_fcs: roi.bbox.numSharedFcs }),
        in_channels: m.neck.outChannels,
        fc_out_channels: roi.bbox.fcChannels,
        roi_feat_size: roi.bbox.roiSize,
        num_classes: m.numClasses,
        bbox_coder: coder(roi.bbox.coder),
        reg_class_agnostic: false,
        loss_cls: { type: 'CrossEntropyLoss', use_sigmoid: false, loss_weight: 1.0 },
        loss_bbox: { type: 'L1Loss', loss_weight: 1.0 },
      },
      ...(roi.mask
        ? {
            mask_roi_extractor: extractor(roi.mask.roiSize),
            mask_head: {
              type: 'FCNMaskHead',
              num_convs: roi.mask.numConvs,
              in_channels: m.neck.outChannels,
              conv_out_channels: roi.mask.convChannels,
              num_classes: m.numClasses,
              loss_mask: { type: 'CrossEntropyLoss', use_mask: true, loss_weight: 1.0 },
            },
          }
        : {}),
    },
    train_cfg: {
      rpn: { assigner: assigner(m.rpn.assigner), sampler: sampler(m.rpn.sampler, false), allowed_border: -1, pos_weight: -1, debug: false },
      rpn_proposal: { nms_pre: m.rpn.train.nmsPre, max_per_img: m.rpn.train.maxPerImg, nms: nms(m.rpn.train.iouThr), min_bbox_size: 0 },
      rcnn: {
        assigner: assigner(roi.bbox.assigner),
        sampler: sampler(roi.bbox.sampler, roi.bbox.addGtAsProposals),
        ...(roi.mask ? { mask_size: roi.mask.roiSize * 2 } : {}),
        pos_weight: -1,
        debug: false,
      },
    },
    test_cfg: {
      rpn: { nms_pre: m.rpn.test.nmsPre, max_per_img: m.rpn.test.maxPerImg, nms: nms(m.rpn.test.iouThr), min_bbox_size: 0 },
      rcnn: { score_thr: roi.test.scoreThr, nms: nms(roi.test.iouThr), max_per_img: roi.test.maxPerImg, ...(roi.mask ? { mask_thr_binary: roi.test.maskThr } : {}) },
    },
  };
}

function retinaNetModel(m: RetinaNetConfig): Record<string, unknown> {
  const h = m.head;
  return {
    type: 'RetinaNet',
    backbone: mmdetBackbone(m),
    neck: neck(m),
    bbox_head: {
      type: 'RetinaHead',
      num_classes: m.numClasses,
      in_channels: m.neck.outChannels,
      stacked_convs: h.stackedConvs,
      feat_channels: h.featChannels,
      anchor_generator: { type: 'AnchorGenerator', octave_base_scale: h.anchor.octaveBaseScale, scales_per_octave: h.anchor.scalesPerOctave, ratios: [...h.anchor.ratios], strides: [...h.anchor.strides] },
      bbox_coder: coder(h.coder),
      loss_cls: { type: 'FocalLoss', use_sigmoid: true, gamma: h.focal.gamma, alpha: h.focal.alpha, loss_weight: 1.0 },
      loss_bbox: { type: 'L1Loss', loss_weight: 1.0 },
    },
    train_cfg: { assigner: assigner(h.assigner), allowed_border: -1, pos_weight: -1, debug: false },
    test_cfg: { nms_pre: h.test.nmsPre, min_bbox_size: 0, score_thr: h.test.scoreThr, nms: nms(h.test.iouThr), max_per_img: h.test.maxPerImg },
  };
}

export interface MmdetConfigOptions {
  classNames: readonly string[];
  /** Written as `load_from` (the exported weights), relative to where mmdet runs. */
  loadFrom?: string;
  /** GPUs the schedule is written for: the SGD lr is scaled to `gpus x batchSize` images. Default 8. */
  gpus?: number;
}

/** The text of an mmdet 2.x config equivalent to `config`. */
export function mmdetConfigText(config: ResolvedRunConfig, options: MmdetConfigOptions): string {
  const m = config.model;
  const withMask = m.kind === 'mask-rcnn' && m.roi.mask !== undefined;
  const gpus = options.gpus ?? 8;
  const [long, short] = config.scale;
  const train = [
    { type: 'LoadImageFromFile' },
    { type: 'LoadAnnotations', with_bbox: true, ...(withMask ? { with_mask: true } : {}) },
    { type: 'Resize', img_scale: pyTuple([long, short]), keep_ratio: true },
    { type: 'RandomFlip', flip_ratio: config.flipProb },
    new Py(`dict(type='Normalize', **img_norm_cfg)`),
    { type: 'Pad', size_divisor: 32 },
    { type: 'DefaultFormatBundle' },
    { type: 'Collect', keys: ['img', 'gt_bboxes', 'gt_labels', ...(withMask ? ['gt_masks'] : [])] },
  ];
  const test = [
    { type: 'LoadImageFromFile' },
    {
      type: 'MultiScaleFlipAug',
      img_scale: pyTuple([long, short]),
      flip: false,
      transforms: [{ type: 'Resize', keep_ratio: true }, { type: 'RandomFlip' }, new Py(`dict(type='Normalize', **img_norm_cfg)`), { type: 'Pad', size_divisor: 32 }, { type: 'ImageToTensor', keys: ['img'] }, { type: 'Collect', keys: ['img'] }],
    },
  ];
  const imagesPerStep = config.batchSize * config.accumulate;
  // AdamW: the official configs use the same lr at any batch. SGD: mmdet's linear scaling rule.
  const lr = config.optimizer === 'sgd' ? (config.lr * gpus * config.batchSize) / imagesPerStep : config.lr;
  const optimizer =
    config.optimizer === 'sgd'
      ? { type: 'SGD', lr, momentum: config.momentum, weight_decay: config.weightDecay }
      : { type: 'AdamW', lr, weight_decay: config.weightDecay };
  if (config.noDecayNormBias) Object.assign(optimizer, { paramwise_cfg: { norm_decay_mult: 0.0, bias_decay_mult: 0.0 } });
  const warmupIters = config.warmupIters ?? 500;
  const lrConfig =
    config.schedule === 'step'
      ? { policy: 'step', warmup: 'linear', warmup_iters: warmupIters, warmup_ratio: config.warmupRatio, step: config.steps.map((s) => Math.round(s)) }
      : { policy: 'CosineAnnealing', warmup: 'linear', warmup_iters: warmupIters, warmup_ratio: config.warmupRatio, min_lr_ratio: config.minLrRatio };
  const split = (s: string) => ({
    type: new Py('dataset_type'),
    classes: new Py('classes'),
    ann_file: new Py(`data_root + 'annotations/instances_${s}.json'`),
    img_prefix: new Py(`data_root + '${s}/'`),
  });
  const lines = [
    `# mmdetection 2.x config written by partialnet-ts from run config ${config.preset ?? m.kind}.`,
    '# Self-contained (no _base_). Edit data_root and the GPU count; train with',
    '#   tools/dist_train.sh THIS_FILE 8',
    '# from the official PartialNet repository\'s detection/ folder (haiduo/PartialNet), with',
    '# partialnet_backbone.py (written beside this file) importable.',
    `custom_imports = dict(imports=['partialnet_backbone'], allow_failed_imports=False)`,
    '',
    `model = ${toPython(m.kind === 'mask-rcnn' ? maskRcnnModel(m) : retinaNetModel(m))}`,
    '',
    "dataset_type = 'CocoDataset'",
    "data_root = 'data/coco/'  # placeholder: a COCO layout annotations/instances_<split>.json + <split>/",
    `classes = ${toPython(pyTuple([...options.classNames]))}`,
    `img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)`,
    `train_pipeline = ${toPython(train)}`,
    `test_pipeline = ${toPython(test)}`,
    `data = ${toPython({
      samples_per_gpu: config.batchSize,
      workers_per_gpu: 2,
      train: { ...split(config.trainSplit), pipeline: new Py('train_pipeline') },
      val: { ...split(config.valSplit), pipeline: new Py('test_pipeline') },
      test: { ...split(config.valSplit), pipeline: new Py('test_pipeline') },
    })}`,
    `evaluation = dict(interval=${config.evalEvery || config.epochs}, metric=${toPython(withMask ? ['bbox', 'segm'] : ['bbox'])})`,
    '',
    `# ${config.optimizer === 'sgd' ? `SGD lr for ${gpus} GPUs x ${config.batchSize} images (this run: ${config.lr} for ${imagesPerStep} images per step)` : 'AdamW lr as the run (the official configs use it for 8 GPUs x 2 images)'}`,
    `optimizer = ${toPython(optimizer)}`,
    `optimizer_config = dict(grad_clip=${config.clipGradNorm > 0 ? `dict(max_norm=${config.clipGradNorm}, norm_type=2)` : 'None'})`,
    `lr_config = ${toPython(lrConfig)}`,
    `runner = dict(type='EpochBasedRunner', max_epochs=${config.epochs})`,
    '',
    'checkpoint_config = dict(interval=1)',
    "log_config = dict(interval=50, hooks=[dict(type='TextLoggerHook')])",
    "dist_params = dict(backend='nccl')",
    "log_level = 'INFO'",
    `load_from = ${toPython(options.loadFrom ?? null)}`,
    'resume_from = None',
    "workflow = [('train', 1)]",
    `seed = ${config.seed}`,
    '',
  ];
  return lines.join('\n');
}

/** Registers the official PartialNet model with mmdet's backbone registry under `PartialNetTS`. */
export const MMDET_BACKBONE_MODULE = `# Written by partialnet-ts: makes the official PartialNet (haiduo/PartialNet, models/partialnet.py)
# an mmdetection 2.x backbone named PartialNetTS, built from explicit constructor arguments.
# Run mmdet from the official repository's detection/ folder (its parent holds models/).
import os
import sys

sys.path.insert(0, os.path.dirname(os.getcwd()))
from mmdet.models.builder import BACKBONES  # noqa: E402
from models.partialnet import PartialNet  # noqa: E402


@BACKBONES.register_module()
def PartialNetTS(**kwargs):
    return PartialNet(**kwargs)
`;
