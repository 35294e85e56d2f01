import { rleToBitmap } from './masks.js';
import { decodeImage, decodeLabelMap, ImageLoadError } from './decode.js';
import { Rng } from '@partialnet/core/random';
import { makeSample } from './make-sample.js';
import { applyTransforms, type Sample, type TransformSpec } from './transforms.js';
import type { InstanceMask, SampleRecord, Targets } from './types.js';

export { makeSample } from './make-sample.js';

/** Builds targets (in original image coordinates) from a record. */
export function recordTargets(r: SampleRecord): Targets {
  const t: Targets = {
    boxes: Float32Array.from(r.boxes ?? []),
    labels: Int32Array.from(r.labels ?? []),
    ignoreBoxes: Float32Array.from(r.ignoreBoxes ?? []),
  };
  if (t.boxes.length !== t.labels.length * 4) {
    throw new Error(`record ${r.imageId}: ${t.boxes.length / 4} boxes but ${t.labels.length} labels`);
  }
  if (r.masks) {
    t.masks = r.masks.map((m): InstanceMask => {
      if ('polygons' in m) return { kind: 'polygons', polygons: m.polygons.map((p) => [...p]) };
      const d = rleToBitmap(m.rle);
      return { kind: 'bitmap', data: d.data, width: d.width, height: d.height };
    });
  }
  if (r.annotationIds) t.annotationIds = [...r.annotationIds];
  if (r.classLabel !== undefined) t.classLabel = r.classLabel;
  return t;
}

/** mmseg's reduce_zero_label in place: 0 -> 255, k -> k - 1, 255 stays 255. */
export function reduceZeroLabel(labels: Uint8Array): Uint8Array {
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    labels[i] = v === 0 || v === 255 ? 255 : v - 1;
  }
  return labels;
}

/**
 * Reads one record: decodes the image (and label map), checks the size against the annotations,
 * builds targets and applies the transforms with an Rng seeded by `seed`.
 */
export async function loadSample(r: SampleRecord, specs: readonly TransformSpec[], seed: number): Promise<Sample> {
  const [image, semantic] = await Promise.all([
    decodeImage(r.file, { imageId: r.imageId }),
    r.semanticFile ? decodeLabelMap(r.semanticFile, { imageId: r.imageId }) : undefined,
  ]);
  if ((r.width !== undefined && r.width !== image.width) || (r.height !== undefined && r.height !== image.height)) {
    throw new ImageLoadError(
      `image ${r.file} (image id ${r.imageId}) is ${image.width}x${image.height} but the annotations say ${r.width}x${r.height}`,
      r.file,
      r.imageId,
      'mismatch',
    );
  }
  const targets = recordTargets(r);
  if (semantic) {
    if (semantic.width !== image.width || semantic.height !== image.height) {
      throw new ImageLoadError(
        `label map ${r.semanticFile} (image id ${r.imageId}) is ${semantic.width}x${semantic.height}, image is ${image.width}x${image.height}`,
        r.semanticFile!,
        r.imageId,
        'mismatch',
      );
    }
    if (r.reduceZeroLabel) reduceZeroLabel(semantic.data);
    targets.semantic = semantic;
  }
  for (const m of targets.masks ?? []) {
    if (m.kind === 'bitmap' && (m.width !== image.width || m.height !== image.height)) {
      throw new ImageLoadError(`mask size ${m.width}x${m.height} differs from image ${image.width}x${image.height} (image id ${r.imageId})`, r.file, r.imageId, 'mismatch');
    }
  }
  return applyTransforms(makeSample(r, image, targets), specs, new Rng(seed));
}
