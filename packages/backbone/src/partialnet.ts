import { BatchNorm2d, ChannelAffine, Conv2d, Linear, Module, ModuleList, activation, activationOnnx, tf, type LoadStateDictOptions, type LoadStateDictResult, type OnnxGraph, type StateDict } from '@partialnet/core';
import { PartialNetBlock, type MixerKind } from './block.js';
import { blockNDiv, resolveConfig, stageWidth, type PartialNetConfig, type PartialNetVariant } from './config.js';
import { fuseStateDict } from './fuse.js';
import { ConvNormDownsample } from './patch.js';

/** What `features()` returns at each level: channels and stride (detectron2's ShapeSpec). */
export interface FeatureInfo {
  name: string;
  channels: number;
  stride: number;
}

/** The smallest input side for which every stage has a map and PAT_ch's std is defined. */
export const MIN_INPUT_SIZE = 32;

const FEATURE_NORMS = ['norm0', 'norm2', 'norm4', 'norm6'] as const;
const HEAD_PREFIXES = ['avgpool_pre_head.', 'head.'];

class Stage extends Module {
  readonly blocks: ModuleList<PartialNetBlock>;

  constructor(blocks: PartialNetBlock[]) {
    super();
    this.blocks = this.addChild('blocks', new ModuleList(blocks));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.blocks.items.reduce((y, block) => block.forward(y), x));
  }

  /** ONNX: the blocks in turn; without a fixed size they read the map size from the stage input. */
  exportOnnx(g: OnnxGraph, x: string, size: readonly [number, number] | undefined, name: string): string {
    return this.blocks.items.reduce((y, block, j) => g.scope(`${name}.blocks.${j}`, () => block.exportOnnx(g, y, size ?? x)), x);
  }
}

/** What `PartialNet.exportOnnx` emits: logits, or the four normalised stage maps. */
export interface PartialNetOnnxOptions {
  features?: boolean;
  /** Fixed input [height, width]; the graph is then specialised (iRPE bias folded) to that size. */
  size?: readonly [number, number];
}

export interface CreateOptions extends Partial<PartialNetConfig> {
  /** Build the inference-only fused form (what `fuse()` returns). */
  fused?: boolean;
}

/**
 * PartialNet (Huang et al., "Partial Channel Network: Compute Fewer, Perform Better"), laid out and
 * named exactly like the official PyTorch model so that its state dicts load unchanged. Tensors
 * are NHWC: `forward` maps [B, H, W, 3] to logits, `features` to the four normalised stage maps.
 */
export class PartialNet extends Module {
  readonly patchEmbed: ConvNormDownsample;
  readonly stages: Stage[] = [];
  readonly merges: ConvNormDownsample[] = [];
  readonly featureNorms: (BatchNorm2d | ChannelAffine)[] = [];
  readonly preHead: Conv2d | undefined;
  readonly head: Linear | undefined;

  static create(variant: PartialNetVariant | Partial<PartialNetConfig> = 't0', options: CreateOptions = {}): PartialNet {
    const { fused = false, ...overrides } = options;
    return new PartialNet(resolveConfig(variant, overrides), fused);
  }

  constructor(
    readonly config: PartialNetConfig,
    readonly fused = false,
  ) {
    super();
    // A saved config (e.g. a checkpoint's state.json) passes the same field check as a new one.
    resolveConfig(config);
    const c = config;
    this.patchEmbed = this.addChild('patch_embed', new ConvNormDownsample('proj', 3, c.embedDim, 4, fused));
    const stages = this.addChild('stages', new ModuleList());
    const totalBlocks = c.depths.reduce((a, b) => a + b, 0);
    let blockIndex = 0;
    for (let i = 0; i < 4; i++) {
      const dim = stageWidth(c, i);
      const kind: MixerKind = !c.channelAttn ? 'pconv' : i < 3 ? 'pat_ch' : 'pat_sf';
      const blocks: PartialNetBlock[] = [];
      for (let j = 0; j < c.depths[i]!; j++) {
        // torch.linspace(0, rate, total): linearly growing stochastic depth.
        const rate = totalBlocks > 1 ? (c.dropPath * blockIndex) / (totalBlocks - 1) : 0;
        // Stage 4 (the official channel_type 'self') always has the split shortcut (issue 14).
        blocks.push(new PartialNetBlock(dim, kind, c, rate, fused, blockNDiv(c, i, j), `stages.${2 * i}.blocks.${j}`, i === 3));
        blockIndex++;
      }
      this.stages.push(stages.push(new Stage(blocks)) as Stage);
      if (i < 3) this.merges.push(stages.push(new ConvNormDownsample('reduction', dim, dim * 2, 2, fused)) as ConvNormDownsample);
    }
    for (let i = 0; i < 4; i++) {
      const width = stageWidth(c, i);
      this.featureNorms.push(this.addChild(FEATURE_NORMS[i]!, fused ? new ChannelAffine(width) : new BatchNorm2d(width)));
    }
    if (c.numClasses > 0) {
      const preHead = new ModuleList<Conv2d>();
      this.preHead = preHead.set(1, new Conv2d(stageWidth(c, 3), c.featureDim, { kernelSize: 1 }));
      this.addChild('avgpool_pre_head', preHead);
      this.head = this.addChild('head', new Linear(c.featureDim, c.numClasses));
    }
  }

  /** Channels and strides of the maps `features()` returns. */
  featureInfo(): FeatureInfo[] {
    return [0, 1, 2, 3].map((i) => ({ name: `stage${i + 1}`, channels: stageWidth(this.config, i), stride: 4 * 2 ** i }));
  }

  #checkInput(x: tf.Tensor): asserts x is tf.Tensor4D {
    const where = 'PartialNet input';
    if (x.rank !== 4) throw new Error(`${where}: expected an NHWC tensor [B, H, W, 3], got rank ${x.rank} with shape [${x.shape.join(', ')}]`);
    const [, h, w, ch] = x.shape;
    if (ch !== 3) throw new Error(`${where}: expected 3 channels in the last axis (NHWC), got shape [${x.shape.join(', ')}]${x.shape[1] === 3 ? ' (NCHW? transpose to NHWC)' : ''}`);
    if (h! < MIN_INPUT_SIZE || w! < MIN_INPUT_SIZE) throw new Error(`${where}: height and width must be at least ${MIN_INPUT_SIZE}, got ${h}x${w}`);
    if (x.dtype !== 'float32') throw new Error(`${where}: expected float32, got ${x.dtype}`);
  }

  /** The raw outputs of the four stages (before the feature norms). */
  #stageOutputs(x: tf.Tensor4D): tf.Tensor4D[] {
    const outs: tf.Tensor4D[] = [];
    let y = this.patchEmbed.forward(x);
    for (let i = 0; i < 4; i++) {
      y = this.stages[i]!.forward(y);
      outs.push(y);
      if (i < 3) y = this.merges[i]!.forward(y);
    }
    return outs;
  }

  /** Classification logits [B, numClasses] for NHWC float32 input [B, H, W, 3]. */
  forward(x: tf.Tensor): tf.Tensor2D {
    this.#checkInput(x);
    if (!this.preHead || !this.head) throw new Error('PartialNet.forward: this model has no classification head (numClasses is 0); use features()');
    const { preHead, head } = this;
    return tf.tidy(() => {
      const last = this.#stageOutputs(x)[3]!;
      const pooled = tf.mean(last, [1, 2], true) as tf.Tensor4D;
      const feat = activation(this.config.act, preHead.forward(pooled)).reshape([x.shape[0], this.config.featureDim]);
      return head.forward(feat) as tf.Tensor2D;
    });
  }

  /**
   * ONNX nodes for this model on the NCHW value `x`: the logits, or (`features`) the four
   * normalised stage maps. Export the fused model (`fuse()`) for a graph without BatchNorms.
   */
  exportOnnx(g: OnnxGraph, x: string, options: PartialNetOnnxOptions = {}): string[] {
    const { size } = options;
    // Map sizes per stage when the input size is fixed: stem 4x4/4, merges 2x2/2, no padding.
    const sizes = [0, 1, 2, 3].map((i) => (size ? ([Math.floor(size[0] / 4 / 2 ** i), Math.floor(size[1] / 4 / 2 ** i)] as const) : undefined));
    if (size) {
      const [h, w] = size;
      // floor(floor(h/4)/2) == floor(h/8): the nested floors above are exact.
      if (h < MIN_INPUT_SIZE || w < MIN_INPUT_SIZE) throw new Error(`PartialNet.exportOnnx: size ${h}x${w}: height and width must be at least ${MIN_INPUT_SIZE}`);
    }
    const outs: string[] = [];
    let y = g.scope('patch_embed', () => this.patchEmbed.exportOnnx(g, x));
    for (let i = 0; i < 4; i++) {
      y = this.stages[i]!.exportOnnx(g, y, sizes[i], `stages.${2 * i}`);
      outs.push(y);
      if (i < 3) y = g.scope(`stages.${2 * i + 1}`, () => this.merges[i]!.exportOnnx(g, y));
    }
    if (options.features) return outs.map((o, i) => g.scope(FEATURE_NORMS[i]!, () => this.featureNorms[i]!.exportOnnx(g, o)));
    if (!this.preHead || !this.head) throw new Error('PartialNet.exportOnnx: this model has no classification head (numClasses is 0); export its features');
    const { preHead, head } = this;
    return g.scope('head', () => {
      const pooled = g.op('ReduceMean', [outs[3]!], { axes: [2, 3], keepdims: 1 });
      const feat = activationOnnx(g, this.config.act, preHead.exportOnnx(g, pooled));
      return [head.exportOnnx(g, g.op('Flatten', [feat], { axis: 1 }))];
    });
  }

  /** The four normalised stage maps (strides 4, 8, 16, 32), NHWC. The caller disposes them. */
  features(x: tf.Tensor): tf.Tensor4D[] {
    this.#checkInput(x);
    const outs = tf.tidy(() => this.#stageOutputs(x).map((y, i) => this.featureNorms[i]!.forward(y)));
    return outs;
  }

  override train(mode = true): this {
    if (mode && this.fused) throw new Error('PartialNet: a fused model is inference-only; train the unfused model and fuse() again');
    return super.train(mode);
  }

  /**
   * Loads a PyTorch state dict. Official checkpoints come as either the classification model
   * (no `norm0..6`) or the dense-prediction model (no `head`, `avgpool_pre_head`); a group absent
   * from the dict as a whole stays at its initial values and is listed in `missing`.
   */
  override loadStateDict(dict: StateDict, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const groups = [
      (n: string) => FEATURE_NORMS.some((p) => n.startsWith(`${p}.`)),
      (n: string) => HEAD_PREFIXES.some((p) => n.startsWith(p)),
    ];
    const names = [...dict.keys()];
    const absentGroups = groups.filter((inGroup) => !names.some(inGroup));
    const c = this.config;
    return super.loadStateDict(dict, {
      allowMissing: (name) => absentGroups.some((inGroup) => inGroup(name)),
      label: `PartialNet (embedDim ${c.embedDim}, depths ${c.depths.join('-')}, spatialAttn ${c.spatialAttn}, channelAttn ${c.channelAttn}, numClasses ${c.numClasses}${c.autoDiv ? ', autoDiv' : ''}${c.nDivPerBlock ? ', per-block nDiv' : ''}${this.fused ? ', fused' : ''})`,
      ...options,
    });
  }

  /**
   * An equivalent inference-only model with every BatchNorm that follows (or, in PAT_sp, precedes)
   * a linear map folded into it and the remaining ones turned into per-channel affine maps.
   */
  async fuse(): Promise<PartialNet> {
    if (this.config.autoDiv) throw new Error('PartialNet.fuse: a DPConv (autoDiv) model has no fused form; bakeSplits() it into a static PartialNet first');
    const fused = new PartialNet(this.config, true);
    fused.loadStateDict(fuseStateDict(await this.stateDict(), this.config));
    return fused.eval();
  }
}
