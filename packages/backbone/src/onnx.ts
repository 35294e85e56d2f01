import { OnnxGraph, OnnxSession, packageVersion, permuteHost, type OnnxDim } from '@partialnet/core';
import { MIN_INPUT_SIZE, PartialNet, type PartialNetOnnxOptions } from './partialnet.js';

/** Metadata keys written into exported models (read back with `inspectOnnx`). */
export const ONNX_META = {
  kind: 'partialnet.kind',
  config: 'partialnet.config',
  inputSize: 'partialnet.input_size',
  layout: 'partialnet.layout',
} as const;

export interface PartialNetOnnx {
  /** The encoded model, as chunks to write in order (`writeOnnxFile`). */
  chunks: Uint8Array[];
  inputName: string;
  outputNames: string[];
  nodeCount: number;
}

/**
 * Exports a PartialNet to ONNX (opset 17, float32, NCHW input named `input`, dynamic batch).
 * The model is fused first (BatchNorms folded) unless it already is. Without `size` the height and
 * width are dynamic (the iRPE bucket ids are computed in the graph); with `size` the graph is
 * specialised to that input size (the iRPE bias becomes a constant: fewer nodes, no dynamic shapes).
 */
export async function exportPartialNetOnnx(model: PartialNet, options: PartialNetOnnxOptions = {}): Promise<PartialNetOnnx> {
  const fused = model.fused ? model : await model.fuse();
  try {
    const g = await OnnxGraph.fromModule(fused);
    const [h, w]: OnnxDim[] = options.size ? [...options.size] : ['height', 'width'];
    const input = g.input('input', ['batch', 3, h!, w!]);
    const outs = fused.exportOnnx(g, input, options);
    const outputNames = options.features ? fused.featureInfo().map((f) => f.name) : ['logits'];
    outs.forEach((value, i) => {
      if (options.features) {
        const { channels, stride } = fused.featureInfo()[i]!;
        const dims: OnnxDim[] = options.size ? [Math.floor(options.size[0] / stride), Math.floor(options.size[1] / stride)] : [`height_${stride}`, `width_${stride}`];
        g.output(value, outputNames[i]!, ['batch', channels, ...dims]);
      } else {
        g.output(value, 'logits', ['batch', fused.config.numClasses]);
      }
    });
    const chunks = g.encode({
      graphName: options.features ? 'partialnet_features' : 'partialnet_classifier',
      producerName: '@partialnet/backbone',
      producerVersion: packageVersion('@partialnet/core') ?? '0',
      docString: `PartialNet ${options.features ? 'features (stage1..stage4, strides 4..32)' : 'classifier (logits)'}; input NCHW float32 RGB, normalised by the caller; minimum side ${MIN_INPUT_SIZE}.`,
      metadata: {
        [ONNX_META.kind]: options.features ? 'partialnet-features' : 'partialnet-classifier',
        [ONNX_META.config]: JSON.stringify(fused.config),
        [ONNX_META.inputSize]: options.size ? `${options.size[0]}x${options.size[1]}` : 'dynamic',
        [ONNX_META.layout]: 'NCHW',
      },
    });
    return { chunks, inputName: input, outputNames, nodeCount: g.nodes.length };
  } finally {
    if (fused !== model) fused.dispose();
  }
}

/** Logits [B * numClasses] for a host NHWC batch (what classification data loaders produce). */
export type LogitsFn = (images: Float32Array, shape: readonly [number, number, number, number]) => Promise<Float32Array>;

/** A classifier exported to ONNX, run by ONNX Runtime on NHWC host batches (converted to NCHW here). */
export function onnxLogits(session: OnnxSession): LogitsFn {
  const kind = session.info.metadata[ONNX_META.kind];
  if (kind !== undefined && kind !== 'partialnet-classifier') throw new Error(`${session.file}: metadata '${ONNX_META.kind}' is '${kind}', expected a classifier (export without --features)`);
  return async (images, shape) => {
    const [b, h, w, c] = shape;
    const nchw = permuteHost({ dtype: 'float32', shape, data: images }, [0, 3, 1, 2]);
    const out = await session.run({ input: { data: nchw.data as Float32Array, dims: [b, c, h, w] } });
    const logits = out.logits ?? Object.values(out)[0];
    if (!logits) throw new Error(`${session.file}: the model returned no output`);
    return logits.data;
  };
}
