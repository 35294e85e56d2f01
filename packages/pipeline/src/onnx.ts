import { OnnxSession, writeOnnxFile, type OnnxProvider } from '@partialnet/core';
import { exportDetectorOnnx, predictWithOnnx, type Detector } from '@partialnet/detection';
import { openDetectionCheckpoint } from './checkpoint.js';
import type { Predictor } from './evaluate.js';

export type InferenceRuntime = 'tfjs' | 'onnx';

export interface DetectionRuntimeOptions {
  runtime: InferenceRuntime;
  /** An .onnx file exported from this checkpoint; without it the dense part is exported in memory. */
  onnxFile?: string;
  threads?: number;
  provider?: OnnxProvider;
}

/** A detector's predict function on the chosen runtime, and what it runs on (for logs). */
export interface DetectionRuntime {
  predict: Predictor;
  description: string;
  dispose(): Promise<void>;
}

/**
 * `predict` for evaluation and prediction: the detector itself on tfjs, or its dense part in ONNX
 * Runtime with the same TypeScript post-processing (`predictWithOnnx`).
 */
export async function openDetectionRuntime(model: Detector, options: DetectionRuntimeOptions): Promise<DetectionRuntime> {
  if (options.runtime === 'tfjs') return { predict: (x, metas) => model.predict(x, metas), description: 'tfjs', dispose: async () => {} };
  const sessionOptions = { ...(options.threads !== undefined ? { threads: options.threads } : {}), ...(options.provider ? { provider: options.provider } : {}) };
  let session: OnnxSession;
  if (options.onnxFile) {
    session = await OnnxSession.open(options.onnxFile, sessionOptions);
    const kind = session.info.metadata['partialnet.kind'];
    const expected = `detector-dense:${model.constructor.name}`;
    if (kind !== expected) {
      await session.dispose();
      throw new Error(`${options.onnxFile}: metadata 'partialnet.kind' is ${JSON.stringify(kind)}, expected '${expected}' (export it with 'partialnet export onnx --checkpoint' from this run)`);
    }
  } else {
    session = await OnnxSession.fromBytes(Buffer.concat((await exportDetectorOnnx(model)).chunks), `${model.constructor.name} (exported in memory)`, sessionOptions);
  }
  return {
    predict: (x, metas) => predictWithOnnx(model, session, x, metas),
    description: `onnxruntime-node ${session.version} (${session.provider}, ${session.threads} threads)`,
    dispose: () => session.dispose(),
  };
}

/** Exports the dense part of a detection checkpoint (a run folder or checkpoint folder) to `out`. */
export async function exportDetectionCheckpointOnnx(checkpoint: string, out: string): Promise<{ bytes: number; outputs: string[]; dir: string; iter: number }> {
  const ckpt = await openDetectionCheckpoint(checkpoint);
  try {
    const { chunks, outputNames } = await exportDetectorOnnx(ckpt.model, {
      'partialnet.checkpoint': ckpt.dir,
      'partialnet.detector_config': JSON.stringify(ckpt.info.config.model),
      'partialnet.class_names': JSON.stringify(ckpt.info.classNames),
      'partialnet.category_ids': JSON.stringify(ckpt.info.categoryIds),
    });
    const bytes = await writeOnnxFile(out, chunks);
    return { bytes, outputs: outputNames, dir: ckpt.dir, iter: ckpt.iter };
  } finally {
    ckpt.model.dispose();
  }
}
