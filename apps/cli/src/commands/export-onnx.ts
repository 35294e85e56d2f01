import { loadSafetensors, setupBackend, writeOnnxFile } from '@partialnet/core';
import { PartialNet, exportPartialNetOnnx, listVariants, type PartialNetVariant } from '@partialnet/backbone';
import { exportDetectionCheckpointOnnx } from '@partialnet/pipeline';
import { UsageError } from '../command.js';
import { BACKEND_OPTION, defineCommand } from '../options.js';

const description = `Writes an ONNX model (opset 17, float32, NCHW input 'input', dynamic batch) for ONNX Runtime and any
other ONNX consumer. BatchNorms are folded into the convolutions.
Backbone (--variant/--weights, a PyTorch-named state dict such as the official checkpoints):
  the classifier's 'logits' [B, classes], or with --features the four normalised stage maps
  'stage1'..'stage4' (strides 4..32). Height and width are dynamic (the iRPE bucket ids of PAT_sf
  are computed in the graph); --size HxW fixes them and folds the iRPE bias into a constant (a
  slightly leaner graph for a serving size). Minimum side 32. The caller normalises the RGB input.
Detector (--checkpoint, a 'partialnet train' run): the dense part, i.e. backbone + FPN + the heads'
  raw outputs (RetinaNet: cls_pN / reg_pN; Mask R-CNN: the FPN maps pN and rpn_cls_pN / rpn_reg_pN).
  Anchor decoding, NMS, proposals, RoIAlign and the RoI heads stay in TypeScript (@partialnet/detection
  predictFromDense); 'eval --runtime onnx' and 'predict --runtime onnx' use it.`;

function parseSize(value: string | undefined): [number, number] | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+)(?:x(\d+))?$/.exec(value.trim());
  if (!m) throw new UsageError(`--size: expected HxW or a side (e.g. 224x224, 224), got '${value}'`);
  return [Number(m[1]), Number(m[2] ?? m[1])];
}

export const exportOnnxCommand = defineCommand({
  name: 'export onnx',
  summary: 'write a backbone or a detector (dense part) as an ONNX model',
  synopsis: ['--variant t0 --weights W.safetensors --out M.onnx [--features] [--size HxW]', '--checkpoint RUN|CHECKPOINT --out M.onnx'],
  description,
  options: {
    variant: { type: 'string', choices: listVariants(), help: 'PartialNet variant of --weights' },
    weights: { type: 'string', arg: 'W.safetensors', help: 'a PyTorch-named PartialNet state dict (official checkpoints load as they are)' },
    checkpoint: { type: 'string', arg: 'RUN|CHECKPOINT', help: "a 'partialnet train' run folder or one checkpoint folder (a detector)" },
    out: { type: 'string', arg: 'M.onnx', required: true, help: 'the ONNX file to write' },
    features: { type: 'boolean', help: 'export the four stage maps instead of the logits' },
    size: { type: 'string', arg: 'HxW', help: 'fix the input height and width (default: dynamic)' },
    backend: BACKEND_OPTION,
  },
  async run(values) {
    if (!values.out.endsWith('.onnx')) throw new UsageError(`--out: expected a .onnx file name, got '${values.out}'`);
    const size = parseSize(values.size);
    if (values.checkpoint) {
      if (values.variant || values.weights || values.features || values.size) throw new UsageError('--checkpoint exports a detector: --variant, --weights, --features and --size are for backbones');
      await setupBackend(values.backend);
      const r = await exportDetectionCheckpointOnnx(values.checkpoint, values.out);
      console.log(`${values.out}: ${(r.bytes / 2 ** 20).toFixed(1)} MiB, dense part of ${r.dir} (iteration ${r.iter}); outputs ${r.outputs.join(', ')}`);
      return 0;
    }
    if (!values.variant) throw new UsageError('give --variant and --weights (a backbone) or --checkpoint (a detector run)');
    if (!values.weights) throw new UsageError('--weights W.safetensors is required with --variant');
    const variant = values.variant as PartialNetVariant;
    await setupBackend(values.backend);
    const dict = await loadSafetensors(values.weights);
    const hasHead = dict.has('head.weight');
    if (!values.features && !hasHead) throw new Error(`${values.weights}: no classification head ('head.weight'); export its --features instead`);
    const model = PartialNet.create(variant, hasHead ? { numClasses: dict.get('head.weight')!.shape[0]! } : { numClasses: 0 });
    try {
      model.loadStateDict(dict, { label: `PartialNet-${variant.toUpperCase()} from ${values.weights}` });
      model.eval();
      const exported = await exportPartialNetOnnx(model, { features: values.features, ...(size ? { size } : {}) });
      const bytes = await writeOnnxFile(values.out, exported.chunks);
      console.log(`${values.out}: ${(bytes / 2 ** 20).toFixed(1)} MiB, ${exported.nodeCount} nodes, input 'input' [batch, 3, ${size ? size.join(', ') : 'height, width'}], outputs ${exported.outputNames.join(', ')}`);
    } finally {
      model.dispose();
    }
    return 0;
  },
});
