import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TensorBoardWriter, crc32c, encodeScalarEvent, maskedCrc32c, readEventFile, scalarsOfLogRecord, tfRecord } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'partialnet-tb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const bytes = (s: string) => new TextEncoder().encode(s);

describe('TensorBoard event files', () => {
  it('CRC-32C matches the standard check value and the RFC 3720 (iSCSI) test vectors', () => {
    expect(crc32c(bytes('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('masks CRCs as TFRecord does and frames records as length, masked CRC, data, masked CRC', () => {
    // mask(c) = rotr15(c) + 0xa282ead8 (tensorflow/core/lib/hash/crc32c.h)
    const c = 0xe3069283;
    expect(maskedCrc32c(bytes('123456789'))).toBe(((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0);
    const rec = tfRecord(bytes('abc'));
    const view = new DataView(rec.buffer);
    expect(rec.length).toBe(8 + 4 + 3 + 4);
    expect(view.getBigUint64(0, true)).toBe(3n);
    expect(view.getUint32(8, true)).toBe(maskedCrc32c(rec.subarray(0, 8)));
    expect([...rec.subarray(12, 15)]).toEqual([97, 98, 99]);
    expect(view.getUint32(15, true)).toBe(maskedCrc32c(bytes('abc')));
  });

  it('encodes an Event with a scalar Summary byte for byte as protobuf does', () => {
    // Event{wall_time: 1.5, step: 300, summary{value{tag: "a", simple_value: 0.25}}}, by the encoding rules:
    // 09 <double 1.5> | 10 ac 02 | 2a 0a (0a 08 (0a 01 61 | 15 <float 0.25>))
    const expected = [0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x10, 0xac, 0x02, 0x2a, 0x0a, 0x0a, 0x08, 0x0a, 0x01, 0x61, 0x15, 0, 0, 0x80, 0x3e];
    expect([...encodeScalarEvent(1.5, 300, { a: 0.25 })]).toEqual(expected);
  });

  it('writes scalars that read back with every CRC checked, and a damaged byte is detected', () => {
    const w = new TensorBoardWriter(dir, 1_700_000_000_000);
    w.add(1, { 'train/loss': 2.5, 'train/lr': 1e-4 }, 1_700_000_001);
    w.add(2, { 'val/bbox_mAP': 0.375 }, 1_700_000_002);
    w.close();
    expect(w.path).toMatch(/events\.out\.tfevents\.1700000000\./);
    const events = readEventFile(w.path);
    expect(events[0]!.fileVersion).toBe('brain.Event:2');
    expect(events.slice(1).map((e) => [e.step, e.wallTime, e.scalars])).toEqual([
      [1, 1_700_000_001, { 'train/loss': 2.5, 'train/lr': Math.fround(1e-4) }],
      [2, 1_700_000_002, { 'val/bbox_mAP': 0.375 }],
    ]);
    const broken = join(dir, 'broken');
    const buf = readFileSync(w.path);
    buf[buf.length - 6] ^= 1;
    writeFileSync(broken, buf);
    expect(() => readEventFile(broken)).toThrow(/bad data CRC/);
  });

  it('maps log.jsonl records to tags: train/<term>, train/lr, val/<metric>; bookkeeping left out', () => {
    expect(scalarsOfLogRecord({ type: 'train', iter: 3, epoch: 0, lr: 0.1, loss: 1, loss_cls: 0.5, numTensors: 7, time: 'x' })).toEqual({ 'train/lr': 0.1, 'train/loss': 1, 'train/loss_cls': 0.5 });
    expect(scalarsOfLogRecord({ type: 'eval', iter: 3, epoch: 0, bbox_mAP: 0.5 })).toEqual({ 'val/bbox_mAP': 0.5 });
    expect(scalarsOfLogRecord({ type: 'override', iter: 3, to: 1 })).toEqual({});
  });
});
