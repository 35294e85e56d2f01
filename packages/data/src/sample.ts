import { rleToBitmap } from './masks.js';
import { decodeImage, decodeLabelMap, ImageLoadError } from './decode.js';
import { Rng } from '@partialnet/core/random';
import { applyTransforms, type Sample, type TransformSpec } from './transforms.js';
import type { ImageMeta, InstanceMask, RgbImage, SampleRecord, Targets } from './types.js';

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

/** A sample at its original size with no transform applied. */
export function makeSample(r: SampleRecord, image: RgbImage, targets: Targets): Sample {
  const meta: ImageMeta = {
    index: r.index,
    imageId: r.imageId,
    file: r.file,
    oriShape: [image.height, image.width],
    imgShape: [image.height, image.width],
    padShape: [image.height, image.width],
    scaleFactor: [1, 1],
    flip: false,
    padDivisor: 1,
  };
  return { image: { kind: 'lazy', source: image, width: image.width, height: image.height, flip: false }, targets, meta };
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
    targets.semantic = semantic;
  }
  for (const m of targets.masks ?? []) {
    if (m.kind === 'bitmap' && (m.width !== image.width || m.height !== image.height)) {
      throw new ImageLoadError(`mask size ${m.width}x${m.height} differs from image ${image.width}x${image.height} (image id ${r.imageId})`, r.file, r.imageId, 'mismatch');
    }
  }
  return applyTransforms(makeSample(r, image, targets), specs, new Rng(seed));
}
