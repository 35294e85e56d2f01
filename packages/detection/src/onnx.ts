import { OnnxGraph, packageVersion, tf, type OnnxDim, type OnnxSession, type OnnxTensor } from '@partialnet/core';
import type { Detector, PredictOptions } from './detector.js';
import type { DetectionMeta, Detections } from './types.js';

export interface DetectorOnnx {
  chunks: Uint8Array[];
  outputNames: string[];
}

/**
 * Exports a detector's dense part to ONNX (opset 17): the fused backbone, the FPN and the heads'
 * raw outputs (`Detector.denseOnnx`). Input `input`: normalised, padded images, NCHW float32, with
 * dynamic batch, height and width. Post-processing (anchor decoding, NMS; for Mask R-CNN proposals,
 * RoIAlign and the RoI heads) stays in TypeScript (`predictFromDense`), so both runtimes share it:
 * ONNX's NonMaxSuppression and RoiAlign differ from mmdet's rules (no class offsets, different
 * sampling at box edges) and would not give the same detections.
 */
export async function exportDetectorOnnx(detector: Detector, metadata: Record<string, string> = {}): Promise<DetectorOnnx> {
  if (detector.isTraining) throw new Error('exportDetectorOnnx: call eval() on the detector first');
  const fusedBackbone = await detector.backbone.fuse();
  try {
    const g = await OnnxGraph.fromModule(detector);
    await g.include(fusedBackbone, 'backbone');
    const input = g.input('input', ['batch', 3, 'height', 'width']);
    const feats = g.scope('backbone', () => fusedBackbone.exportOnnx(g, input, { features: true }));
    const fpn = g.scope('neck', () => detector.neck.exportOnnx(g, feats));
    const dense = detector.denseOnnx(g, fpn);
    const strideOf = (name: string) => detector.neck.outputInfo.find((f) => name.endsWith(f.name))!.stride;
    for (const [name, value] of Object.entries(dense)) {
      const s = strideOf(name);
      g.output(value, name, ['batch', `channels_${name}`, `height_${s}`, `width_${s}`] as OnnxDim[]);
    }
    const chunks = g.encode({
      graphName: `${detector.constructor.name.toLowerCase()}_dense`,
      producerName: '@partialnet/detection',
      producerVersion: packageVersion('@partialnet/core') ?? '0',
      docString: `${detector.constructor.name} dense part: input normalised NCHW images padded to a multiple of 32; outputs ${Object.keys(dense).join(', ')} (NCHW).`,
      metadata: { 'partialnet.kind': `detector-dense:${detector.constructor.name}`, 'partialnet.layout': 'NCHW', ...metadata },
    });
    return { chunks, outputNames: Object.keys(dense) };
  } finally {
    fusedBackbone.dispose();
  }
}

/** ONNX outputs (NCHW, host) as the NHWC tensors the TypeScript post-processing reads. */
export function denseOutputsToNhwc(outputs: Readonly<Record<string, OnnxTensor>>): Record<string, tf.Tensor4D> {
  const out: Record<string, tf.Tensor4D> = {};
  for (const [name, t] of Object.entries(outputs)) {
    if (t.dims.length !== 4) throw new Error(`ONNX output '${name}': expected rank 4 (NCHW), got [${t.dims.join(', ')}]`);
    out[name] = tf.tidy(() => tf.tensor4d(t.data, t.dims as [number, number, number, number]).transpose([0, 2, 3, 1]));
  }
  return out;
}

/**
 * Detections for a batch of NHWC images through an ONNX Runtime session over the detector's
 * exported dense part, then the detector's own post-processing. Leaves no tensors behind.
 */
export async function predictWithOnnx(detector: Detector, session: OnnxSession, images: tf.Tensor4D, metas: readonly DetectionMeta[], options: PredictOptions = {}): Promise<Detections[]> {
  const nchw = tf.transpose(images, [0, 3, 1, 2]);
  let data: Float32Array;
  try {
    data = (await nchw.data()) as Float32Array;
  } finally {
    nchw.dispose();
  }
  const [b, h, w, c] = images.shape;
  const outputs = await session.run({ input: { data, dims: [b, c, h, w] } });
  const dense = denseOutputsToNhwc(outputs);
  try {
    return await detector.predictFromDense(dense, metas, options);
  } finally {
    tf.dispose(Object.values(dense));
  }
}
