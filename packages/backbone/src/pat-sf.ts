import { LayerNorm2d, Linear, Module, dropout, tf } from '@partialnet/core';
import { IRPE, irpeBias } from './irpe.js';
import { PartialConv } from './partial-conv.js';

/** The iRPE table of one attention layer (`rpe_k.lookup_table_bias`, [heads, buckets]). */
class RpeKeyBias extends Module {
  readonly table: tf.Variable;

  constructor(numHeads: number) {
    super();
    this.table = this.addParameter('lookup_table_bias', tf.zeros([numHeads, IRPE.numBuckets]));
  }
}

/** Multi-head self-attention over the pixels of a map, with an iRPE bias on the logits. */
export class RpeAttention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly rpeK: RpeKeyBias;
  readonly headDim: number;
  readonly scale: number;
  /** Attention and projection dropout of the official code (training only). */
  readonly dropRate = 0.1;

  constructor(
    readonly dim: number,
    readonly numHeads: number,
  ) {
    super();
    this.headDim = dim / numHeads;
    this.scale = this.headDim ** -0.5;
    this.qkv = this.addChild('qkv', new Linear(dim, 3 * dim, { bias: false }));
    this.proj = this.addChild('proj', new Linear(dim, dim));
    this.rpeK = this.addChild('rpe_k', new RpeKeyBias(numHeads));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [b, h, w, c] = x.shape;
      const L = h * w;
      const heads = this.numHeads;
      const d = this.headDim;
      // [B, L, 3C] -> [3, B, heads, L, d]: q, k, v each own C consecutive outputs, split by head.
      const qkv = this.qkv.forward(x.reshape([b, L, c])).reshape([b, L, 3, heads, d]).transpose([2, 0, 3, 1, 4]);
      const [q, k, v] = tf.unstack(qkv, 0) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      let attn: tf.Tensor = tf.matMul(tf.mul(q, this.scale), k, false, true);
      attn = tf.add(attn, irpeBias(this.rpeK.table as tf.Tensor2D, h, w));
      attn = dropout(tf.softmax(attn), this.dropRate, this.training);
      const out = tf.matMul(attn as tf.Tensor4D, v).transpose([0, 2, 1, 3]).reshape([b, L, c]);
      return dropout(this.proj.forward(out), this.dropRate, this.training).reshape([b, h, w, c]) as tf.Tensor4D;
    });
  }
}

/** PAT_sf: partial 3x3 conv on the first channels, LayerNorm then self-attention on the rest. */
export class PatSelfAttention extends PartialConv {
  readonly norm: LayerNorm2d;
  readonly attn: RpeAttention;

  constructor(dim: number, nDiv: number, numHeads: number) {
    super(dim, nDiv);
    const rest = dim - this.convChannels;
    this.attn = this.addChild('attn', new RpeAttention(rest, numHeads));
    this.norm = this.addChild('norm', new LayerNorm2d(rest));
  }

  override forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [head, rest] = this.splitConv(x);
      return tf.concat([head, this.attn.forward(this.norm.forward(rest))], 3);
    });
  }
}
