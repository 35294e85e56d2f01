import { Conv2d, Module, Rng, absSignGrad, conv2d, exactSign, knownHostValues, readHostValues, rememberHostValues, tf } from '@partialnet/core';

/**
 * DPConv, the dynamic partial convolution of PartialNet (the official `DGConv2d`): a 3x3 conv
 * C -> C whose channel connectivity is learned through K = log2(C) binary gates.
 *
 * Semantics follow the official code (models/dgconv.py):
 * - gate signs go through a straight-through estimator: forward `sign(g)`, backward passes the
 *   gradient where |g| < 1 and zeroes it elsewhere; s = (sign(g) + 1) / 2.
 * - the mask is U = U_0 ⊗ U_1 ⊗ ... ⊗ U_{K-1} with U_k = s_k * ones(2, 2) + (1 - s_k) * I_2: a gate
 *   with g > 0 picks the all-ones block, g < 0 the identity. U[o, i] masks the connection from input
 *   channel i to output channel o (U is symmetric).
 * - training (search): the masked dense conv conv2d(x, W * U) over all C channels (the official
 *   default; untouched channels are NOT copied through), and the buffers are updated:
 *   c_div = 2^trunc(sum(1 - s)), one_channel = trunc(C / c_div).
 * - training before `preEpoch`: a plain partial conv on the first C / nDiv channels.
 * - eval: the partial conv on the first `one_channel` channels (buffer, i.e. the split of the last
 *   training forward or of the loaded checkpoint) with the unmasked weight W[:oc, :oc]; the other
 *   channels pass through.
 *
 * Registered names match the official module so its checkpoints load: `gate` [K], `conv.weight`
 * [C, C, 3, 3], buffers `I` and `one` [2, 2], `c_div` and `one_channel` (int32 scalars).
 */
export interface DPConvOptions {
  /** The static split used before `preEpoch` and, with gateInit 'ndiv', the initial split. Default 4. */
  nDiv?: number;
  /** Epoch at which the search starts (the official `pre_epoch`); 0 searches from the start. Default 0. */
  preEpoch?: number;
  /**
   * 'ndiv' (default): gates start at +-1e-8 in the legal order that encodes nDiv (log2(nDiv)
   * identity gates first, then ones), so the search starts from the static PartialNet's split.
   * 'random': the official init, each gate +-1e-8 with a random sign.
   */
  gateInit?: 'ndiv' | 'random';
  /** |g| at init (official 1e-8: the first gradient step decides every sign). Must be < 1. */
  gateInitScale?: number;
  /** Seed for gateInit 'random' (default: Math.random). */
  seed?: number;
  /** Names the layer in error messages (e.g. `stages.0.blocks.0.spatial_mixing`). */
  label?: string;
}

const GATE_EPS = 1e-8;

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
}

/** Throws the error every DPConv width check reports. */
export function assertDPConvWidth(dim: number, label = 'DPConv'): void {
  if (!isPowerOfTwo(dim) || dim < 2) {
    throw new Error(`${label}: DPConv needs a power-of-two channel count (K = log2(C) gates), got width ${dim}; use autoDiv only with power-of-two stage widths (embedDim a power of two)`);
  }
}

/**
 * sign(g) forward; gradient passed unchanged where |g| < 1, zero elsewhere (official DcSign2).
 * The sign comes from comparisons (`exactSign`): tf.sign on wasm gives 0 for the +-1e-8 gates of
 * the official init, which turned every gate into s = 0.5 there (issue 14).
 */
export const steSign: (g: tf.Tensor) => tf.Tensor = tf.customGrad((...args) => {
  const [g, save] = args as [tf.Tensor, (tensors: tf.Tensor[]) => void];
  save([g]);
  return {
    value: exactSign(g),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => tf.mul(dy, tf.cast(tf.less(tf.abs(saved[0]!), 1), 'float32'))),
  };
}) as (g: tf.Tensor) => tf.Tensor;

/** Kronecker product of two matrices (differentiable). */
export function kron(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [m, n] = a.shape;
    const [p, q] = b.shape;
    return tf.mul(a.reshape([m, 1, n, 1]), b.reshape([1, p, 1, q])).reshape([m * p, n * q]) as tf.Tensor2D;
  });
}

/** U = kron_k (s_k * ones + (1 - s_k) * I) for s of shape [K] (differentiable in s). */
export function gateMask(s: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => {
    const k = s.shape[0];
    const eye = tf.eye(2);
    const ones = tf.ones([2, 2]);
    const sv = s.reshape([k, 1, 1]);
    const factors = tf.add(tf.mul(sv, ones), tf.mul(tf.sub(1, sv), eye)) as tf.Tensor3D;
    const list = tf.unstack(factors) as tf.Tensor2D[];
    return list.slice(1).reduce((acc, f) => kron(acc, f), list[0]!);
  });
}

/** Host reference: the mask for gate values in {0, 0.5, 1} (s), as a row-major [C, C] array. */
export function kroneckerMaskHost(s: readonly number[]): Float64Array {
  let m = new Float64Array([1]);
  let size = 1;
  for (const sk of s) {
    const f = [sk + (1 - sk), sk, sk, sk + (1 - sk)]; // s*ones + (1-s)*I, row-major 2x2
    const next = new Float64Array(size * 2 * size * 2);
    for (let i = 0; i < size; i++)
      for (let j = 0; j < size; j++)
        for (let p = 0; p < 2; p++) for (let q = 0; q < 2; q++) next[(i * 2 + p) * size * 2 + (j * 2 + q)] = m[i * size + j]! * f[p * 2 + q]!;
    m = next;
    size *= 2;
  }
  return m;
}

/** s = (sign(g) + 1) / 2 on the host (0 for g < 0, 0.5 for g = 0, 1 for g > 0). */
export function gateStates(gates: ArrayLike<number>): number[] {
  return Array.from(gates, (g) => (Math.sign(g) + 1) / 2);
}

/** The official c_div of gate states: 2^trunc(sum(1 - s)). */
export function cDivOf(s: readonly number[]): number {
  return 2 ** Math.trunc(s.reduce((acc, v) => acc + (1 - v), 0));
}

/**
 * The official legality check (check01 on 1 - s): the index of the first "identity" gate that
 * follows a "ones" gate, or -1 when the sequence is legal (all identity gates first).
 */
export function firstIllegalGate(s: readonly number[]): number {
  let seenOnes = false;
  for (let i = 0; i < s.length; i++) {
    const a = 1 - s[i]!;
    if (a === 0) seenOnes = true;
    else if (seenOnes && a === 1) return i;
  }
  return -1;
}

export class DPConv extends Module {
  readonly K: number;
  readonly nDiv: number;
  readonly preEpoch: number;
  readonly gate: tf.Variable;
  readonly conv: Conv2d;
  readonly eye: tf.Variable;
  readonly ones: tf.Variable;
  readonly cDivBuffer: tf.Variable;
  readonly oneChannelBuffer: tf.Variable;
  readonly label: string;
  /** The current epoch, set by `setDPConvEpoch`; the search runs from `preEpoch` on. */
  epoch = 0;

  constructor(
    readonly dim: number,
    options: DPConvOptions = {},
  ) {
    super();
    this.label = options.label ?? 'DPConv';
    assertDPConvWidth(dim, this.label);
    this.K = Math.round(Math.log2(dim));
    this.nDiv = options.nDiv ?? 4;
    this.preEpoch = options.preEpoch ?? 0;
    if (!Number.isInteger(this.nDiv) || this.nDiv < 1 || this.nDiv > dim) throw new Error(`${this.label}: nDiv must be an integer in [1, ${dim}], got ${this.nDiv}`);
    const init = options.gateInit ?? 'ndiv';
    const eps = options.gateInitScale ?? GATE_EPS;
    if (!(eps > 0 && eps < 1)) throw new Error(`${this.label}: gateInitScale must be in (0, 1) (gates at |g| >= 1 get no gradient), got ${eps}`);
    let gates: number[];
    if (init === 'ndiv') {
      if (!isPowerOfTwo(this.nDiv)) throw new Error(`${this.label}: gateInit 'ndiv' needs a power-of-two nDiv, got ${this.nDiv}`);
      const identity = Math.round(Math.log2(this.nDiv));
      gates = Array.from({ length: this.K }, (_, k) => (k < identity ? -eps : eps));
    } else {
      const rng = new Rng(options.seed ?? Math.floor(Math.random() * 2 ** 32));
      gates = Array.from({ length: this.K }, () => (rng.next() < 0.5 ? -eps : eps));
    }
    // Registration order follows the official module: buffers I, one, c_div, one_channel, gate, conv.
    this.eye = this.addBuffer('I', tf.eye(2));
    this.ones = this.addBuffer('one', tf.ones([2, 2]));
    this.cDivBuffer = this.addBuffer('c_div', tf.scalar(this.nDiv, 'int32'));
    this.oneChannelBuffer = this.addBuffer('one_channel', tf.scalar(Math.floor(dim / this.nDiv), 'int32'));
    this.gate = this.addParameter('gate', tf.tensor1d(gates));
    this.conv = this.addChild('conv', new Conv2d(dim, dim, { kernelSize: 3, padding: 1 }));
    rememberHostValues(this.gate, Float32Array.from(gates));
    rememberHostValues(this.cDivBuffer, Int32Array.of(this.nDiv));
    rememberHostValues(this.oneChannelBuffer, Int32Array.of(Math.floor(dim / this.nDiv)));
  }

  /**
   * The host copy of a gate or split buffer. The split is host control flow (which channels the
   * convolution sees), and a GPU backend cannot read synchronously: the values are kept on the
   * host when written or loaded, and `syncDPConv(model)` reads the gates after each optimizer step.
   */
  #host(v: tf.Variable, what: string): Float32Array | Int32Array {
    const values = knownHostValues(v);
    if (!values) throw new Error(`${this.label}: its ${what} changed on the device since they were last read; await syncDPConv(model) before the forward pass`);
    return values;
  }

  /** Reads the gates and split buffers to the host (after an optimizer step changed the gates). */
  async sync(): Promise<void> {
    await readHostValues(this.gate);
    await readHostValues(this.cDivBuffer);
    await readHostValues(this.oneChannelBuffer);
  }

  /** Whether a training forward runs the search (masked conv) rather than the static partial conv. */
  get searching(): boolean {
    return this.preEpoch === 0 || this.epoch >= this.preEpoch;
  }

  /** Gate states s (host). */
  states(): number[] {
    return gateStates(this.#host(this.gate, 'gates'));
  }

  /** Channels the eval forward convolves (the `one_channel` buffer). */
  get convChannels(): number {
    return this.#host(this.oneChannelBuffer, 'split buffers')[0]!;
  }

  /** The learned split C / one_channel (what eval uses). */
  get cDiv(): number {
    return this.dim / this.convChannels;
  }

  /** s with the straight-through gradient, [K]. */
  stateTensor(): tf.Tensor1D {
    return tf.tidy(() => tf.div(tf.add(steSign(this.gate), 1), 2) as tf.Tensor1D);
  }

  /** The channel mask U [C, C] (differentiable in the gates through the STE). */
  mask(): tf.Tensor2D {
    return tf.tidy(() => gateMask(this.stateTensor()));
  }

  /** 2^(K + sum s): the number of live connections of the mask (the official U_regularizer). */
  regularizer(): tf.Scalar {
    return tf.tidy(() => tf.pow(tf.scalar(2), tf.add(this.K, tf.sum(this.stateTensor()))) as tf.Scalar);
  }

  /**
   * Sum of |g| from the first illegal gate on (0 for a legal order): the official loss_gate. Its
   * gradient is sign(g), 0 for a gate at exactly 0 as in PyTorch (tf.abs's would be -1).
   */
  gateOrderLoss(): tf.Scalar {
    const idx = firstIllegalGate(this.states());
    if (idx < 0) return tf.scalar(0);
    return tf.tidy(() => tf.sum(absSignGrad(tf.slice(this.gate, [idx], [this.K - idx]))) as tf.Scalar);
  }

  #setSplit(cDiv: number): void {
    const oc = Math.trunc(this.dim / cDiv);
    if (this.#host(this.cDivBuffer, 'split buffers')[0] !== cDiv) {
      tf.tidy(() => this.cDivBuffer.assign(tf.scalar(cDiv, 'int32')));
      rememberHostValues(this.cDivBuffer, Int32Array.of(cDiv));
    }
    if (this.#host(this.oneChannelBuffer, 'split buffers')[0] !== oc) {
      tf.tidy(() => this.oneChannelBuffer.assign(tf.scalar(oc, 'int32')));
      rememberHostValues(this.oneChannelBuffer, Int32Array.of(oc));
    }
  }

  #partial(x: tf.Tensor4D, oc: number): tf.Tensor4D {
    return tf.tidy(() => {
      const w = this.conv.weight as tf.Tensor4D;
      if (oc >= this.dim) return conv2d(x, w, 1, 1);
      const [head, rest] = tf.split(x, [oc, this.dim - oc], 3) as [tf.Tensor4D, tf.Tensor4D];
      const wHead = tf.slice(w, [0, 0, 0, 0], [3, 3, oc, oc]) as tf.Tensor4D;
      return tf.concat([conv2d(head, wHead, 1, 1), rest], 3) as tf.Tensor4D;
    });
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    if (x.shape[3] !== this.dim) throw new Error(`${this.label}: expected ${this.dim} channels, got shape [${x.shape.join(', ')}]`);
    if (!this.training) return this.#partial(x, this.convChannels);
    if (!this.searching) {
      this.#setSplit(this.nDiv);
      return this.#partial(x, Math.floor(this.dim / this.nDiv));
    }
    this.#setSplit(cDivOf(this.states()));
    return tf.tidy(() => {
      // U is symmetric, so U[o, i] laid out as [in, out] for the HWIO filter is U itself.
      const u = this.mask().reshape([1, 1, this.dim, this.dim]);
      const masked = tf.mul(this.conv.weight, u) as tf.Tensor4D;
      return conv2d(x, masked, 1, 1);
    });
  }
}

/** Every DPConv of a model, with its dotted name. */
export function dpconvLayers(model: Module): [string, DPConv][] {
  return [...model.namedModules()].filter((e): e is [string, DPConv] => e[1] instanceof DPConv);
}

/**
 * Reads every DPConv's gates to the host (one small `await data()` each): call after each
 * optimizer step and before the next forward pass, since the split is decided on the host.
 */
export async function syncDPConv(model: Module): Promise<void> {
  for (const [, layer] of dpconvLayers(model)) await layer.sync();
}

/** Tells every DPConv the current epoch (the search starts at each layer's preEpoch). */
export function setDPConvEpoch(model: Module, epoch: number): void {
  for (const [, layer] of dpconvLayers(model)) layer.epoch = epoch;
}
