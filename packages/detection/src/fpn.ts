import { Module, ModuleList, tf, upsampleNearest, type OnnxGraph } from '@partialnet/core';
import type { FeatureInfo } from '@partialnet/backbone';
import { ConvModule, subsample2, xavierUniformInit } from './nn.js';

export interface FpnConfig {
  outChannels: number;
  /** First backbone level used (0: strides 4..; 1: strides 8.. as RetinaNet). */
  startLevel: number;
  /** Output levels, extra ones added on top of the backbone's. */
  numOuts: number;
  /**
   * How extra levels are made: 'maxpool' (max_pool2d kernel 1 stride 2 on the last output, Mask
   * R-CNN's P6) or 'on_input' (stride-2 3x3 convs, the first on the last backbone map: RetinaNet).
   */
  extra: 'maxpool' | 'on_input';
}

/** Channels and strides of what an FPN built on `inputs` returns (a neck's output contract). */
export function fpnOutputInfo(inputs: readonly FeatureInfo[], config: FpnConfig): FeatureInfo[] {
  const used = inputs.slice(config.startLevel);
  const out: FeatureInfo[] = used.map((f, i) => ({ name: `p${Math.log2(f.stride)}`, channels: config.outChannels, stride: f.stride }));
  let stride = used[used.length - 1]!.stride;
  while (out.length < config.numOuts) {
    stride *= 2;
    out.push({ name: `p${Math.log2(stride)}`, channels: config.outChannels, stride });
  }
  return out;
}

/**
 * Feature Pyramid Network (Lin et al.), laid out like mmdet's FPN so that names match
 * (`lateral_convs.i.conv`, `fpn_convs.i.conv`; extra convs continue `fpn_convs`): 1x1 laterals,
 * top-down nearest upsampling and sum, 3x3 output convs. Built from the backbone's featureInfo.
 */
export class FPN extends Module {
  readonly lateralConvs: ModuleList<ConvModule>;
  readonly fpnConvs: ModuleList<ConvModule>;
  readonly outputInfo: FeatureInfo[];
  readonly numBackboneOuts: number;

  constructor(
    readonly inputInfo: readonly FeatureInfo[],
    readonly config: FpnConfig,
  ) {
    super();
    const used = inputInfo.slice(config.startLevel);
    if (used.length === 0) throw new Error(`FPN: startLevel ${config.startLevel} leaves no input among ${inputInfo.length}`);
    if (config.numOuts < used.length) throw new Error(`FPN: numOuts ${config.numOuts} is below the ${used.length} levels used`);
    this.numBackboneOuts = used.length;
    this.lateralConvs = this.addChild('lateral_convs', new ModuleList());
    this.fpnConvs = this.addChild('fpn_convs', new ModuleList());
    const c = config.outChannels;
    for (const f of used) {
      this.lateralConvs.push(new ConvModule(f.channels, c, 1));
      this.fpnConvs.push(new ConvModule(c, c, 3, { padding: 1 }));
    }
    if (config.extra === 'on_input') {
      for (let i = used.length; i < config.numOuts; i++) {
        const cin = i === used.length ? used[used.length - 1]!.channels : c;
        this.fpnConvs.push(new ConvModule(cin, c, 3, { stride: 2, padding: 1 }));
      }
    }
    for (const m of [...this.lateralConvs.items, ...this.fpnConvs.items]) xavierUniformInit(m.conv);
    this.outputInfo = fpnOutputInfo(inputInfo, config);
  }

  /** `inputs`: all backbone maps (as featureInfo lists them). Returns numOuts maps, finest first. */
  forward(inputs: readonly tf.Tensor4D[]): tf.Tensor4D[] {
    if (inputs.length !== this.inputInfo.length) throw new Error(`FPN: expected ${this.inputInfo.length} maps, got ${inputs.length}`);
    return tf.tidy(() => {
      const used = inputs.slice(this.config.startLevel);
      const laterals = used.map((x, i) => this.lateralConvs.items[i]!.forward(x));
      for (let i = laterals.length - 1; i > 0; i--) {
        const prev = laterals[i - 1]!;
        const up = upsampleNearest(laterals[i]!, [prev.shape[1], prev.shape[2]]);
        laterals[i - 1] = tf.add(prev, up);
      }
      const outs = laterals.map((l, i) => this.fpnConvs.items[i]!.forward(l));
      for (let i = outs.length; i < this.config.numOuts; i++) {
        if (this.config.extra === 'maxpool') outs.push(subsample2(outs[outs.length - 1]!));
        else outs.push(this.fpnConvs.items[i]!.forward(i === used.length ? used[used.length - 1]! : outs[outs.length - 1]!));
      }
      return outs;
    });
  }

  /**
   * ONNX (NCHW). The top-down path is Resize to the finer map's size, nearest with floor and
   * asymmetric coordinates (tf.image.resizeNearestNeighbor's and F.interpolate's rule); the
   * 'maxpool' extra level is MaxPool with a 1x1 kernel and stride 2.
   */
  exportOnnx(g: OnnxGraph, inputs: readonly string[]): string[] {
    const used = inputs.slice(this.config.startLevel);
    const laterals = used.map((x, i) => g.scope(`lateral_convs.${i}`, () => this.lateralConvs.items[i]!.exportOnnx(g, x)));
    for (let i = laterals.length - 1; i > 0; i--) {
      const prev = laterals[i - 1]!;
      const up = g.op('Resize', [laterals[i]!, '', '', g.op('Shape', [prev])], { mode: 'nearest', nearest_mode: 'floor', coordinate_transformation_mode: 'asymmetric' });
      laterals[i - 1] = g.op('Add', [prev, up]);
    }
    const outs = laterals.map((l, i) => g.scope(`fpn_convs.${i}`, () => this.fpnConvs.items[i]!.exportOnnx(g, l)));
    for (let i = outs.length; i < this.config.numOuts; i++) {
      const last = outs[outs.length - 1]!;
      if (this.config.extra === 'maxpool') outs.push(g.op('MaxPool', [last], { kernel_shape: [1, 1], strides: [2, 2] }));
      else outs.push(g.scope(`fpn_convs.${i}`, () => this.fpnConvs.items[i]!.exportOnnx(g, i === used.length ? used[used.length - 1]! : last)));
    }
    return outs;
  }
}
