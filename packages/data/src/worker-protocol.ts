import type { TransformSpec } from './transforms.js';
import type { ImageMeta, SampleRecord, Targets } from './types.js';

export type WorkerRequest =
  | { type: 'load'; id: number; record: SampleRecord; seed: number }
  | { type: 'recycle'; buffer: ArrayBuffer }
  | { type: 'close' };

export interface WireSample {
  pixels: ArrayBuffer;
  width: number;
  height: number;
  targets: Targets;
  meta: ImageMeta;
}

export interface WireError {
  name: string;
  message: string;
  file?: string;
  imageId?: number;
  reason?: string;
  stack?: string;
}

export type WorkerReply = { type: 'sample'; id: number; sample: WireSample } | { type: 'error'; id: number; error: WireError };

export interface WorkerInit {
  specs: TransformSpec[];
}
