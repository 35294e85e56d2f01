import { LayerNorm2d, Linear, Module, dropout, linear, tf, type OnnxGraph } from '@partialnet/core';
import { IRPE, irpeBias, irpeBucketIds, irpeBucketIdsOnnx } from './irpe.js';
import { PartialConv, type OnnxMapSize } from './partial-conv.js';

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
      // q, k, v as [heads, B, L, d] (the heads lead the batch dims), each from its own third of the
      // qkv weight: every transpose below is then rank 3 or 4. tfjs-backend-wasm transposes rank 5
      // on a generic path ~150x slower (28 ms of a 35 ms block at batch 16), and slicing q, k, v out
      // of one activation would copy it once per slice (wasm's Slice reads the whole input first).
      const tokens = x.reshape([b * L, c]) as tf.Tensor2D;
      const qkvWeight = this.qkv.weight as tf.Tensor2D;
      const project = (part: number): tf.Tensor4D =>
        linear(tokens, tf.slice(qkvWeight, [0, part * c], [c, c]))
          .reshape([b * L, heads, d])
          .transpose([1, 0, 2])
          .reshape([heads, b, L, d]);
      const q = project(0);
      const kT = project(1).transpose([0, 1, 3, 2]); // no transpose flag: wasm's matmul leaves XNNPACK with one
      const v = project(2);
      let attn: tf.Tensor = tf.matMul(tf.mul(q, this.scale) as tf.Tensor4D, kT);
      attn = tf.add(attn, irpeBias(this.rpeK.table as tf.Tensor2D, h, w).reshape([heads, 1, L, L]));
      attn = tf.softmax(attn);
      // the dropout mask drawn in the [B, heads, L, L] order the random stream always had, so a
      // seeded run trains as before this layout change
      if (this.training && this.dropRate > 0) attn = dropout(attn.transpose([1, 0, 2, 3]), this.dropRate, true).transpose([1, 0, 2, 3]);
      const out = tf.matMul(attn as tf.Tensor4D, v).reshape([heads, b * L, d]).transpose([1, 0, 2]).reshape([b, L, c]);
      return dropout(this.proj.forward(out), this.dropRate, this.training).reshape([b, h, w, c]) as tf.Tensor4D;
    });
  }

  /**
   * ONNX on tokens [B, L, C] of an h x w map; returns tokens. With a fixed `size` the iRPE bias
   * [heads, L, L] is folded into a constant; otherwise the bucket ids are computed in the graph
   * from the shape of the NCHW value `size` names, so any input size works.
   */
  exportOnnx(g: OnnxGraph, tokens: string, size: OnnxMapSize): string {
    const heads = this.numHeads;
    const d = this.headDim;
    const qkv = g.op('Transpose', [g.op('Reshape', [this.qkv.exportOnnx(g, tokens), g.ints([0, 0, 3, heads, d], 'shape')])], { perm: [2, 0, 3, 1, 4] });
    const [q, k, v] = g
      .node('Split', [qkv, g.ints([1, 1, 1], 'split')], { attributes: { axis: 0 }, count: 3 })
      .map((t) => g.op('Squeeze', [t, g.ints([0], 'axes')])) as [string, string, string];
    const kT = g.op('Transpose', [k], { perm: [0, 1, 3, 2] });
    let attn = g.op('MatMul', [g.op('Mul', [q, g.scalar(this.scale)]), kT]);
    attn = g.op('Add', [attn, this.#biasOnnx(g, size)]);
    const out = g.op('MatMul', [g.op('Softmax', [attn], { axis: -1 }), v]);
    const merged = g.op('Reshape', [g.op('Transpose', [out], { perm: [0, 2, 1, 3] }), g.ints([0, 0, this.dim], 'shape')]);
    return this.proj.exportOnnx(g, merged);
  }

  #biasOnnx(g: OnnxGraph, size: OnnxMapSize): string {
    const table = this.rpeK.table;
    const heads = this.numHeads;
    if (typeof size === 'object') {
      const [h, w] = size;
      const L = h * w;
      const ids = irpeBucketIds(h, w);
      const values = g.hostData(table);
      const bias = new Float32Array(heads * L * L);
      for (let hh = 0; hh < heads; hh++) {
        const row = values.subarray(hh * IRPE.numBuckets, (hh + 1) * IRPE.numBuckets);
        const out = bias.subarray(hh * L * L, (hh + 1) * L * L);
        for (let i = 0; i < L * L; i++) out[i] = row[ids[i]!]!;
      }
      return g.constFloat(bias, [heads, L, L], 'irpe_bias');
    }
    return g.op('Gather', [g.weight(table), irpeBucketIdsOnnx(g, size)], { axis: 1 });
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

  /** ONNX (NCHW): Split, Conv on the head; the rest goes to tokens, LayerNorm, attention and back. */
  override exportOnnx(g: OnnxGraph, x: string, size?: OnnxMapSize): string {
    const [head, rest] = this.splitConvOnnx(g, x);
    const tokens = g.op('Transpose', [g.op('Reshape', [rest, g.ints([0, 0, -1], 'shape')])], { perm: [0, 2, 1] });
    const attended = this.attn.exportOnnx(g, this.norm.exportOnnx(g, tokens), size ?? rest);
    const back = g.op('Reshape', [g.op('Transpose', [attended], { perm: [0, 2, 1] }), g.op('Shape', [rest])]);
    return g.op('Concat', [head, back], { axis: 1 });
  }
}
