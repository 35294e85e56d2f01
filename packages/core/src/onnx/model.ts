import { ProtoMessage, decodeFields, decodeString, ProtoDecodeError } from './protobuf.js';

/** ONNX TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_INT32 = 6;
export const ONNX_INT64 = 7;
export type OnnxElemType = typeof ONNX_FLOAT | typeof ONNX_INT32 | typeof ONNX_INT64;

/** IR version 8 goes with opset 17 (ONNX 1.12); every ONNX Runtime since 1.12 reads it. */
export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 17;

export type OnnxAttribute = number | string | readonly number[] | { floats: readonly number[] } | { float: number };

export interface OnnxNode {
  opType: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Readonly<Record<string, OnnxAttribute>>;
}

export interface OnnxInitializer {
  name: string;
  dims: readonly number[];
  type: OnnxElemType;
  /** Little-endian raw bytes (raw_data). */
  raw: Uint8Array;
}

/** A dimension: a fixed size or a symbolic name (dynamic). */
export type OnnxDim = number | string;

export interface OnnxValueInfo {
  name: string;
  type: OnnxElemType;
  dims: readonly OnnxDim[];
}

export interface OnnxGraphProto {
  name: string;
  nodes: readonly OnnxNode[];
  initializers: readonly OnnxInitializer[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
}

export interface OnnxModelProto {
  graph: OnnxGraphProto;
  producerName: string;
  producerVersion: string;
  docString?: string;
  /** Free key/value metadata (ModelProto.metadata_props), read back by `inspectOnnx`. */
  metadata?: Readonly<Record<string, string>>;
  opset?: number;
}

// Attribute types (AttributeProto.AttributeType).
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;

function encodeAttribute(name: string, value: OnnxAttribute): ProtoMessage {
  const m = new ProtoMessage().string(1, name);
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`ONNX attribute '${name}': ${value} is not an integer; pass { float: ${value} } for a float attribute`);
    return m.int(3, value).int(20, ATTR_INT);
  }
  if (typeof value === 'string') return m.string(4, value).int(20, ATTR_STRING);
  if ('float' in value) return m.float(2, value.float).int(20, ATTR_FLOAT);
  if ('floats' in value) return m.packedFloats(7, value.floats).int(20, ATTR_FLOATS);
  return m.packedInts(8, value).int(20, ATTR_INTS);
}

function encodeNode(node: OnnxNode): ProtoMessage {
  const m = new ProtoMessage();
  for (const i of node.inputs) m.string(1, i);
  for (const o of node.outputs) m.string(2, o);
  m.string(3, node.name).string(4, node.opType);
  for (const [k, v] of Object.entries(node.attributes ?? {})) m.message(5, encodeAttribute(k, v));
  return m;
}

function encodeTensor(t: OnnxInitializer): ProtoMessage {
  return new ProtoMessage().packedInts(1, t.dims).int(2, t.type).string(8, t.name).bytes(9, t.raw);
}

function encodeValueInfo(v: OnnxValueInfo): ProtoMessage {
  const shape = new ProtoMessage();
  for (const d of v.dims) shape.message(1, typeof d === 'number' ? new ProtoMessage().int(1, d) : new ProtoMessage().string(2, d));
  const tensorType = new ProtoMessage().int(1, v.type).message(2, shape);
  return new ProtoMessage().string(1, v.name).message(2, new ProtoMessage().message(1, tensorType));
}

/** Serialises a model to ONNX's protobuf form, as chunks to write one after another. */
export function encodeOnnxModel(model: OnnxModelProto): Uint8Array[] {
  const g = new ProtoMessage();
  for (const n of model.graph.nodes) g.message(1, encodeNode(n));
  g.string(2, model.graph.name);
  for (const t of model.graph.initializers) g.message(5, encodeTensor(t));
  for (const i of model.graph.inputs) g.message(11, encodeValueInfo(i));
  for (const o of model.graph.outputs) g.message(12, encodeValueInfo(o));
  const m = new ProtoMessage().int(1, ONNX_IR_VERSION).string(2, model.producerName).string(3, model.producerVersion);
  if (model.docString) m.string(6, model.docString);
  for (const [key, value] of Object.entries(model.metadata ?? {})) m.message(14, new ProtoMessage().string(1, key).string(2, value));
  // The graph before the opset import: a file cut anywhere inside or after the graph then lacks a
  // required field, which `inspectOnnx` reports (protobuf itself allows any field order).
  m.message(7, g);
  m.message(8, new ProtoMessage().string(1, '').int(2, model.opset ?? ONNX_OPSET));
  return m.finish();
}

/** What `inspectOnnx` reads from a file without running it. */
export interface OnnxModelInfo {
  irVersion: number;
  opset: number;
  producer: string;
  metadata: Record<string, string>;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  nodeCount: number;
  opTypes: Record<string, number>;
}

/** An .onnx file that is truncated, corrupt or not ONNX at all. */
export class InvalidOnnxError extends Error {
  constructor(readonly file: string, reason: string) {
    super(`${file}: not a valid ONNX model: ${reason}`);
    this.name = 'InvalidOnnxError';
  }
}

function decodeValueInfo(bytes: Uint8Array, where: string): OnnxValueInfo {
  let name = '';
  let type: OnnxElemType = ONNX_FLOAT;
  const dims: OnnxDim[] = [];
  for (const f of decodeFields(bytes, where)) {
    if (f.field === 1 && f.wire === 2) name = decodeString(f.value);
    if (f.field === 2 && f.wire === 2) {
      for (const t of decodeFields(f.value, `${where}.type`)) {
        if (t.field !== 1 || t.wire !== 2) continue;
        for (const tt of decodeFields(t.value, `${where}.type.tensor_type`)) {
          if (tt.field === 1 && tt.wire === 0) type = Number(tt.value) as OnnxElemType;
          if (tt.field === 2 && tt.wire === 2) {
            for (const d of decodeFields(tt.value, `${where}.shape`)) {
              if (d.field !== 1 || d.wire !== 2) continue;
              const dim = decodeFields(d.value, `${where}.shape.dim`)[0];
              dims.push(dim?.wire === 0 ? Number(dim.value) : dim?.wire === 2 ? decodeString(dim.value) : '?');
            }
          }
        }
      }
    }
  }
  return { name, type, dims };
}

/**
 * Reads the header of an ONNX model (IR and opset versions, producer, metadata, graph inputs and
 * outputs, node counts per operator) and checks that the whole message is well formed, so a
 * truncated or foreign file fails here with its name instead of deep inside ONNX Runtime.
 */
export function inspectOnnx(bytes: Uint8Array, file = 'ONNX model'): OnnxModelInfo {
  const fail = (reason: string): never => {
    throw new InvalidOnnxError(file, reason);
  };
  if (bytes.length === 0) fail('the file is empty');
  try {
    const info: OnnxModelInfo = { irVersion: 0, opset: 0, producer: '', metadata: {}, inputs: [], outputs: [], nodeCount: 0, opTypes: {} };
    let graph: Uint8Array | undefined;
    for (const f of decodeFields(bytes, 'ModelProto')) {
      if (f.field === 1 && f.wire === 0) info.irVersion = Number(f.value);
      else if (f.field === 2 && f.wire === 2) info.producer = decodeString(f.value);
      else if (f.field === 7 && f.wire === 2) graph = f.value;
      else if (f.field === 8 && f.wire === 2) {
        let domain = '';
        let version = 0;
        for (const o of decodeFields(f.value, 'opset_import')) {
          if (o.field === 1 && o.wire === 2) domain = decodeString(o.value);
          if (o.field === 2 && o.wire === 0) version = Number(o.value);
        }
        if (domain === '' || domain === 'ai.onnx') info.opset = version;
      } else if (f.field === 14 && f.wire === 2) {
        let key = '';
        let value = '';
        for (const e of decodeFields(f.value, 'metadata_props')) {
          if (e.field === 1 && e.wire === 2) key = decodeString(e.value);
          if (e.field === 2 && e.wire === 2) value = decodeString(e.value);
        }
        info.metadata[key] = value;
      }
    }
    if (info.irVersion <= 0) fail('no ir_version (field 1) in the ModelProto');
    if (!graph) fail('no graph (field 7) in the ModelProto (truncated?)');
    if (info.opset <= 0) fail('no opset_import for the default domain (field 8) in the ModelProto (truncated?)');
    for (const f of decodeFields(graph!, 'GraphProto')) {
      if (f.field === 1 && f.wire === 2) {
        info.nodeCount++;
        const op = decodeFields(f.value, 'NodeProto').find((n) => n.field === 4 && n.wire === 2);
        const name = op ? decodeString(op.value as Uint8Array) : '?';
        info.opTypes[name] = (info.opTypes[name] ?? 0) + 1;
      } else if (f.field === 11 && f.wire === 2) info.inputs.push(decodeValueInfo(f.value, 'graph.input'));
      else if (f.field === 12 && f.wire === 2) info.outputs.push(decodeValueInfo(f.value, 'graph.output'));
    }
    if (info.outputs.length === 0) fail('the graph has no outputs');
    return info;
  } catch (e) {
    if (e instanceof ProtoDecodeError) fail(e.message);
    throw e;
  }
}
