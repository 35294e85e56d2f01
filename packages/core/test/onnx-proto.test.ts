import { describe, expect, it } from 'vitest';
import { ProtoMessage, decodeFields } from '../src/onnx/protobuf.js';
import { InvalidOnnxError, ONNX_FLOAT, ONNX_INT64, encodeOnnxModel, inspectOnnx } from '../src/onnx/model.js';

function concat(chunks: Uint8Array[]): Uint8Array {
  return Buffer.concat(chunks);
}

describe('protobuf wire format', () => {
  it('encodes varints as the protobuf spec does (150 -> 96 01, -1 -> ten bytes)', () => {
    expect(Array.from(new ProtoMessage().int(1, 150).toBytes())).toEqual([0x08, 0x96, 0x01]);
    expect(Array.from(new ProtoMessage().int(1, -1).toBytes())).toEqual([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(Array.from(new ProtoMessage().string(2, 'testing').toBytes())).toEqual([0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67]);
  });

  it('nests messages by reference and decodes them back, packed ints included', () => {
    const big = new Uint8Array(300).fill(7);
    const inner = new ProtoMessage().bytes(9, big).packedInts(1, [3, -1, 1 << 20]);
    const outer = new ProtoMessage().message(5, inner).float(2, 0.5);
    const chunks = outer.finish();
    expect(chunks).toContain(big);
    const fields = decodeFields(concat(chunks), 'outer');
    expect(fields.map((f) => [f.field, f.wire])).toEqual([[5, 2], [2, 5]]);
    const innerFields = decodeFields(fields[0]!.value as Uint8Array, 'inner');
    expect((innerFields[0]!.value as Uint8Array).length).toBe(300);
    // 3, -1 (ten bytes), 2^20 as consecutive varints.
    expect(Array.from(innerFields[1]!.value as Uint8Array)).toEqual([0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x80, 0x80, 0x40]);
  });
});

describe('ONNX ModelProto', () => {
  const chunks = encodeOnnxModel({
    producerName: 'test',
    producerVersion: '1',
    metadata: { key: 'value' },
    graph: {
      name: 'g',
      nodes: [{ opType: 'Reshape', name: 'r', inputs: ['x', 'shape'], outputs: ['y'] }],
      initializers: [{ name: 'shape', dims: [2], type: ONNX_INT64, raw: new Uint8Array(new BigInt64Array([-1n, 4n]).buffer) }],
      inputs: [{ name: 'x', type: ONNX_FLOAT, dims: ['batch', 2, 2] }],
      outputs: [{ name: 'y', type: ONNX_FLOAT, dims: ['batch', 4] }],
    },
  });
  const bytes = concat(chunks);

  it('reads back versions, metadata, inputs with symbolic dims, outputs and operators', () => {
    const info = inspectOnnx(bytes, 'm.onnx');
    expect(info).toMatchObject({ irVersion: 8, opset: 17, producer: 'test', metadata: { key: 'value' }, nodeCount: 1, opTypes: { Reshape: 1 } });
    expect(info.inputs).toEqual([{ name: 'x', type: ONNX_FLOAT, dims: ['batch', 2, 2] }]);
    expect(info.outputs).toEqual([{ name: 'y', type: ONNX_FLOAT, dims: ['batch', 4] }]);
  });

  it('rejects every truncation with an error naming the file', () => {
    for (let cut = 1; cut < bytes.length; cut += 7) {
      expect(() => inspectOnnx(bytes.subarray(0, cut), 'cut.onnx'), `cut at ${cut}`).toThrow(InvalidOnnxError);
    }
    expect(() => inspectOnnx(bytes.subarray(0, 20), 'cut.onnx')).toThrow(/^cut\.onnx: not a valid ONNX model: /);
  });
});
