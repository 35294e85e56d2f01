import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf, type PartialNetConfig } from './deps.js';

/** The two small official-model fixtures live in the repository (test/fixtures, see its README). */
export const LOCAL_ROOT = fileURLToPath(new URL('./fixtures/', import.meta.url));
export const LOCAL_FIXTURES = ['tiny-gelu-sp-64x64', 'tiny-relu-96x128'] as const;

/**
 * The official T0 fixture is 19 MB, too big for git. It is read from `PARTIALNET_FIXTURES`
 * (a folder holding `t0-224x224/`) or from `../shared/fixtures/partialnet` beside the repository;
 * when neither has it, its tests are skipped with this reason.
 */
export const LARGE_FIXTURE = 't0-224x224';
const largeRoots = [
  process.env.PARTIALNET_FIXTURES,
  fileURLToPath(new URL('../../../../shared/fixtures/partialnet/', import.meta.url)),
].filter((r): r is string => !!r);
const largeRoot = largeRoots.find((r) => existsSync(path.join(r, LARGE_FIXTURE, 'meta.json')));
export const LARGE_FIXTURE_MISSING = largeRoot
  ? undefined
  : `${LARGE_FIXTURE} fixture (19 MB, not in git) not found; set PARTIALNET_FIXTURES to the folder holding it`;


interface FileMeta {
  shape: number[];
}
export interface FixtureMeta {
  model_kwargs: {
    embed_dim: number;
    depths: number[];
    act_layer: 'GELU' | 'RELU';
    use_spatial_attn: boolean;
    use_channel_attn: boolean;
    num_classes: number;
    feature_dim: number;
    mlp_ratio: number;
    n_div: number;
  };
  input: FileMeta;
  classification: FileMeta;
  intermediates: Record<string, FileMeta>;
  fork_feat: { files: Record<string, FileMeta> };
  param_counts: { classification: number; fork_feat: number };
}

export function fixturePath(name: string, file: string): string {
  const root = name === LARGE_FIXTURE ? largeRoot : LOCAL_ROOT;
  if (!root) throw new Error(LARGE_FIXTURE_MISSING);
  return path.join(root, name, file);
}

export function requireFixtures(): void {
  if (!existsSync(path.join(LOCAL_ROOT, LOCAL_FIXTURES[0], 'meta.json'))) {
    throw new Error(`PartialNet fixtures not found at ${LOCAL_ROOT}`);
  }
}

export function readMeta(name: string): FixtureMeta {
  return JSON.parse(readFileSync(fixturePath(name, 'meta.json'), 'utf8')) as FixtureMeta;
}

export function configFromMeta(meta: FixtureMeta): Partial<PartialNetConfig> {
  const k = meta.model_kwargs;
  return {
    embedDim: k.embed_dim,
    depths: k.depths,
    act: k.act_layer === 'GELU' ? 'gelu' : 'relu',
    spatialAttn: k.use_spatial_attn,
    channelAttn: k.use_channel_attn,
    numClasses: k.num_classes,
    featureDim: k.feature_dim,
    mlpRatio: k.mlp_ratio,
    nDiv: k.n_div,
    dropPath: 0,
  };
}

/** Reads a raw little-endian float32 file. */
export function readBin(name: string, file: string): Float32Array {
  const buf = readFileSync(fixturePath(name, file));
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

/** An NCHW reference array as an NHWC tensor. */
export function nchwToNhwc(data: Float32Array, shape: number[]): tf.Tensor4D {
  return tf.tidy(() => tf.tensor4d(data, shape as [number, number, number, number]).transpose([0, 2, 3, 1]));
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}
