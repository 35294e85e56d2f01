import { Conv2d, Linear, Module, linear, nextSeed, reluKeepingOutput, tf, type OnnxGraph } from '@partialnet/core';

/** Fills a conv's (HWIO) or linear's ([in, out]) weight; biases get `bias`. */
function fill(layer: Conv2d | Linear, weight: tf.Tensor, bias = 0): void {
  layer.weight.assign(weight);
  weight.dispose();
  if (layer.bias) {
    const b = tf.fill(layer.bias.shape, bias);
    layer.bias.assign(b);
    b.dispose();
  }
}

function fans(layer: Conv2d | Linear): [number, number] {
  const s = layer.weight.shape;
  if (s.length === 2) return [s[0]!, s[1]!];
  const rf = s[0]! * s[1]!;
  return [s[2]! * rf, s[3]! * rf];
}

/** mmcv normal_init: N(0, std) weights, constant bias. */
export function normalInit(layer: Conv2d | Linear, std = 0.01, bias = 0): void {
  fill(layer, tf.randomNormal(layer.weight.shape, 0, std, 'float32', nextSeed()), bias);
}

/** mmcv xavier_init(distribution='uniform'): U(-a, a), a = sqrt(6 / (fan_in + fan_out)). */
export function xavierUniformInit(layer: Conv2d | Linear, bias = 0): void {
  const [fi, fo] = fans(layer);
  const a = Math.sqrt(6 / (fi + fo));
  fill(layer, tf.randomUniform(layer.weight.shape, -a, a, 'float32', nextSeed()), bias);
}

/** mmcv kaiming_init(mode='fan_out', nonlinearity='relu', distribution='normal'). */
export function kaimingNormalInit(layer: Conv2d | Linear, bias = 0): void {
  const [, fo] = fans(layer);
  fill(layer, tf.randomNormal(layer.weight.shape, 0, Math.sqrt(2 / fo), 'float32', nextSeed()), bias);
}

/**
 * mmcv's ConvModule without norm: a biased conv (child `conv`, so names read
 * `lateral_convs.0.conv.weight`) and an optional ReLU.
 */
export class ConvModule extends Module {
  readonly conv: Conv2d;
  readonly relu: boolean;

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number,
    options: { stride?: number; padding?: number; relu?: boolean } = {},
  ) {
    super();
    this.relu = options.relu ?? false;
    this.conv = this.addChild('conv', new Conv2d(inChannels, outChannels, { kernelSize, stride: options.stride ?? 1, padding: options.padding ?? 0, bias: true }));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = this.conv.forward(x);
      return this.relu ? reluKeepingOutput(y) : y;
    });
  }

  exportOnnx(g: OnnxGraph, x: string): string {
    const y = this.conv.exportOnnx(g, x);
    return this.relu ? g.op('Relu', [y]) : y;
  }
}

/**
 * ConvTranspose2d with kernel 2 and stride 2 (the mask head's upsampling), stored like PyTorch's
 * weight [in, out, 2, 2] (HWIO-permuted as [2, 2, out, in], tfjs's conv2dTranspose layout). The
 * windows do not overlap, so it is one matmul and a pixel shuffle: fast and differentiable on
 * every backend without conv2dTranspose's filter gradient.
 */
export class ConvTranspose2x2 extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
  ) {
    super();
    this.weight = this.addParameter('weight', tf.randomNormal([2, 2, outChannels, inChannels], 0, Math.sqrt(2 / (inChannels * 4)), 'float32', nextSeed()), 'conv');
    this.bias = this.addParameter('bias', tf.zeros([outChannels]));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [n, h, w, c] = x.shape;
      const o = this.outChannels;
      // [2, 2, O, C] -> [C, 2 * 2 * O] so that columns read (a, b, o).
      const wm = tf.reshape(tf.transpose(this.weight, [3, 0, 1, 2]), [c, 4 * o]);
      const y = linear(tf.reshape(x, [n * h * w, c]) as tf.Tensor2D, wm as tf.Tensor2D);
      const blocks = tf.reshape(y, [n, h, w, 2, 2, o]);
      const img = tf.reshape(tf.transpose(blocks, [0, 1, 3, 2, 4, 5]), [n, 2 * h, 2 * w, o]);
      return tf.add(img, this.bias) as tf.Tensor4D;
    });
  }
}

/**
 * max_pool2d(kernel 1, stride 2): every other pixel, by pad / reshape / slice (all differentiable).
 * The slice is 4-D on purpose: its gradient is a pad of the same rank, and tfjs-backend-webgpu
 * 4.22 generates invalid WGSL for pads of rank 5 and more (`vec5`).
 */
export function subsample2(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const ph = h % 2;
    const pw = w % 2;
    const xp = ph || pw ? tf.pad(x, [[0, 0], [0, ph], [0, pw], [0, 0]]) : x;
    const H = (h + ph) / 2;
    const W = (w + pw) / 2;
    // [n, 2H, 2W, c] as [n*H, row parity, W, (column parity, c)]: keep parity 0 on both axes.
    const r = tf.reshape(xp, [n * H, 2, W, 2 * c]);
    return tf.reshape(tf.slice(r, [0, 0, 0, 0], [n * H, 1, W, c]), [n, H, W, c]) as tf.Tensor4D;
  });
}
