/**
 * The synthetic "shapes" data set: coloured circles, squares, triangles, stars, hexagons and
 * crosses on textured backgrounds, written in COCO format with semantic label PNGs and train/val
 * splits. Deterministic in the seed (every image draws from Rng(deriveSeed(seed, image index))).
 *
 * Masks are exact: each shape is painted with exactly the pixels that the COCO polygon rasterizer
 * gives for its (stored, already rounded) polygon. Later shapes occlude earlier ones; an instance
 * that stays fully visible is written as its polygon, an occluded one as the compressed RLE of its
 * visible pixels (still iscrowd 0), and every bbox / area is that of the visible pixels. Placements
 * that would hide more than half of an earlier instance are rejected.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bitmapToRle, polygonsToBitmap } from './masks.js';
import { encodeImage, encodeLabelMap } from './decode.js';
import { deriveSeed, Rng } from '@partialnet/core/random';
import type { RgbImage, RleLike } from './types.js';

export const SHAPE_CATEGORIES = ['circle', 'square', 'triangle', 'star', 'hexagon', 'cross'] as const;
export type ShapeName = (typeof SHAPE_CATEGORIES)[number];

/** Base hue (degrees) of each category: distinct colours make the set learnable in minutes. */
const CATEGORY_HUE: Record<ShapeName, number> = { circle: 0, square: 210, triangle: 120, star: 50, hexagon: 285, cross: 175 };

export interface ShapesOptions {
  /** Total number of images (train + val). */
  images: number;
  width: number;
  height: number;
  seed: number;
  /** Fraction of images in the val split (at least one image each when images >= 2). Default 0.2. */
  valFraction?: number;
  /** Objects per image, inclusive range. Default [1, 5]. */
  objects?: [number, number];
  /** Circumradius range as a fraction of min(width, height). Default [0.08, 0.22]. */
  radius?: [number, number];
  /** Image file format. Default 'jpeg' (quality 92). */
  format?: 'jpeg' | 'png';
}

export interface ShapeInstance {
  category: ShapeName;
  /** Contiguous label (index into SHAPE_CATEGORIES). */
  label: number;
  /** The full (unoccluded) outline, flat xy, rounded to 0.01 px. */
  polygon: number[];
  /** Visible pixels, row-major 0/1. */
  visible: Uint8Array;
  /** Visible pixel count. */
  area: number;
  /** [x1, y1, x2, y2] of the visible pixels (pixel-edge coordinates). */
  box: [number, number, number, number];
  occluded: boolean;
}

export interface ShapesImage {
  image: RgbImage;
  /** Semantic labels: 0 background, 1 + label for each shape. */
  semantic: Uint8Array;
  instances: ShapeInstance[];
}

function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  h = ((h % 360) + 360) % 360;
  const c = v * s;
  const x = c * (1 - Math.abs(((h / 60) % 2) - 1));
  const m = v - c;
  const k = Math.floor(h / 60);
  const [r, g, b] = k === 0 ? [c, x, 0] : k === 1 ? [x, c, 0] : k === 2 ? [0, c, x] : k === 3 ? [0, x, c] : k === 4 ? [x, 0, c] : [c, 0, x];
  return [(r + m) * 255, (g + m) * 255, (b + m) * 255];
}

function clampByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}

/** A low-saturation textured background: gradient + blocky value noise + optional stripes + grain. */
function background(w: number, h: number, rng: Rng): Uint8Array {
  const data = new Uint8Array(w * h * 3);
  const hue = rng.uniform(0, 360);
  const c1 = hsvToRgb(hue, rng.uniform(0, 0.2), rng.uniform(0.35, 0.75));
  const c2 = hsvToRgb(hue + rng.uniform(-60, 60), rng.uniform(0, 0.2), rng.uniform(0.35, 0.75));
  const angle = rng.uniform(0, Math.PI * 2);
  const dx = Math.cos(angle) / w;
  const dy = Math.sin(angle) / h;
  const cell = rng.intInclusive(12, 40);
  const gw = Math.ceil(w / cell) + 2;
  const gh = Math.ceil(h / cell) + 2;
  const grid = new Float32Array(gw * gh);
  for (let i = 0; i < grid.length; i++) grid[i] = rng.uniform(-18, 18);
  const stripes = rng.chance(0.5);
  const sFreq = rng.uniform(0.15, 0.5);
  const sAngle = rng.uniform(0, Math.PI);
  const sx = Math.cos(sAngle) * sFreq;
  const sy = Math.sin(sAngle) * sFreq;
  for (let y = 0; y < h; y++) {
    const gy = y / cell;
    const y0 = Math.floor(gy);
    const fy = gy - y0;
    for (let x = 0; x < w; x++) {
      const gx = x / cell;
      const x0 = Math.floor(gx);
      const fx = gx - x0;
      const n00 = grid[y0 * gw + x0]!;
      const n01 = grid[y0 * gw + x0 + 1]!;
      const n10 = grid[(y0 + 1) * gw + x0]!;
      const n11 = grid[(y0 + 1) * gw + x0 + 1]!;
      const noise = (n00 * (1 - fx) + n01 * fx) * (1 - fy) + (n10 * (1 - fx) + n11 * fx) * fy;
      const t = Math.min(1, Math.max(0, 0.5 + (x - w / 2) * dx + (y - h / 2) * dy));
      const stripe = stripes ? 9 * Math.sin(x * sx + y * sy) : 0;
      const o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        data[o + c] = clampByte(c1[c]! * (1 - t) + c2[c]! * t + noise + stripe + rng.uniform(-5, 5));
      }
    }
  }
  return data;
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

/** The outline of a shape (circumradius r, rotation rot) centred at (cx, cy), flat xy. */
export function shapePolygon(kind: ShapeName, cx: number, cy: number, r: number, rot: number): number[] {
  const pts: number[] = [];
  const ring = (n: number, radius: (k: number) => number, offset = 0) => {
    for (let k = 0; k < n; k++) {
      const a = rot + offset + (k * 2 * Math.PI) / n;
      const rr = radius(k);
      pts.push(round2(cx + rr * Math.cos(a)), round2(cy + rr * Math.sin(a)));
    }
  };
  switch (kind) {
    case 'circle':
      ring(48, () => r);
      break;
    case 'square':
      ring(4, () => r, Math.PI / 4);
      break;
    case 'triangle':
      ring(3, () => r * 1.1, -Math.PI / 2);
      break;
    case 'star':
      ring(10, (k) => (k % 2 === 0 ? r * 1.1 : r * 0.48), -Math.PI / 2);
      break;
    case 'hexagon':
      ring(6, () => r);
      break;
    case 'cross': {
      const a = r * 0.95;
      const b = r * 0.34;
      const local = [-b, -a, b, -a, b, -b, a, -b, a, b, b, b, b, a, -b, a, -b, b, -a, b, -a, -b, -b, -b];
      const c = Math.cos(rot);
      const s = Math.sin(rot);
      for (let i = 0; i < local.length; i += 2) {
        const x = local[i]!;
        const y = local[i + 1]!;
        pts.push(round2(cx + x * c - y * s), round2(cy + x * s + y * c));
      }
      break;
    }
  }
  return pts;
}

/** Renders one image of the set (no I/O). */
export function renderShapesImage(w: number, h: number, rng: Rng, o: Pick<ShapesOptions, 'objects' | 'radius'> = {}): ShapesImage {
  const data = background(w, h, rng);
  const owner = new Int16Array(w * h).fill(-1);
  const [nMin, nMax] = o.objects ?? [1, 5];
  const [rMin, rMax] = o.radius ?? [0.08, 0.22];
  const minDim = Math.min(w, h);
  const count = rng.intInclusive(nMin, nMax);
  const full: { mask: Uint8Array; area: number; category: ShapeName; polygon: number[] }[] = [];
  const visibleArea: number[] = [];
  for (let k = 0; k < count; k++) {
    for (let attempt = 0; attempt < 30; attempt++) {
      const category = rng.pick(SHAPE_CATEGORIES);
      const r = rng.uniform(rMin, rMax) * minDim;
      const margin = r * 1.12 + 1;
      if (2 * margin >= w || 2 * margin >= h) continue;
      const cx = rng.uniform(margin, w - margin);
      const cy = rng.uniform(margin, h - margin);
      const polygon = shapePolygon(category, cx, cy, r, rng.uniform(0, Math.PI * 2));
      const mask = polygonsToBitmap([polygon], h, w);
      let area = 0;
      const hidden = new Map<number, number>();
      for (let p = 0; p < mask.length; p++) {
        if (!mask[p]) continue;
        area++;
        const j = owner[p]!;
        if (j >= 0) hidden.set(j, (hidden.get(j) ?? 0) + 1);
      }
      if (area < 16) continue;
      let ok = true;
      for (const [j, n] of hidden) if (visibleArea[j]! - n < 0.5 * full[j]!.area) ok = false;
      if (!ok) continue;
      for (const [j, n] of hidden) visibleArea[j]! -= n;
      const idx = full.length;
      full.push({ mask, area, category, polygon });
      visibleArea.push(area);
      // Paint: category hue with jitter, a gentle linear shading and grain.
      const [cr, cg, cb] = hsvToRgb(CATEGORY_HUE[category] + rng.uniform(-12, 12), rng.uniform(0.65, 0.95), rng.uniform(0.7, 1));
      const shade = rng.uniform(-0.25, 0.25) / r;
      for (let p = 0; p < mask.length; p++) {
        if (!mask[p]) continue;
        owner[p] = idx;
        const x = p % w;
        const y = (p - x) / w;
        const f = 1 + shade * ((x - cx) + (y - cy)) * 0.5;
        const g = rng.uniform(-4, 4);
        data[p * 3] = clampByte(cr * f + g);
        data[p * 3 + 1] = clampByte(cg * f + g);
        data[p * 3 + 2] = clampByte(cb * f + g);
      }
      break;
    }
  }
  const semantic = new Uint8Array(w * h);
  const instances: ShapeInstance[] = full.map((f, j) => {
    const visible = new Uint8Array(w * h);
    let x1 = w, y1 = h, x2 = -1, y2 = -1, area = 0;
    for (let p = 0; p < owner.length; p++) {
      if (owner[p] !== j) continue;
      visible[p] = 1;
      area++;
      const x = p % w;
      const y = (p - x) / w;
      if (x < x1) x1 = x;
      if (x > x2) x2 = x;
      if (y < y1) y1 = y;
      if (y > y2) y2 = y;
      semantic[p] = SHAPE_CATEGORIES.indexOf(f.category) + 1;
    }
    return {
      category: f.category,
      label: SHAPE_CATEGORIES.indexOf(f.category),
      polygon: f.polygon,
      visible,
      area,
      box: [x1, y1, x2 + 1, y2 + 1],
      occluded: area !== f.area,
    };
  });
  return { image: { data, width: w, height: h }, semantic, instances };
}

export interface ShapesManifest {
  name: 'shapes';
  seed: number;
  width: number;
  height: number;
  categories: { id: number; name: string }[];
  /** Semantic label ids: 0 = background, i + 1 = categories[i]. */
  semanticClasses: string[];
  splits: Record<'train' | 'val', { images: string; annotations: string; semantic: string; count: number }>;
}

interface CocoOut {
  info: Record<string, unknown>;
  licenses: unknown[];
  images: { id: number; file_name: string; width: number; height: number }[];
  annotations: {
    id: number;
    image_id: number;
    category_id: number;
    bbox: number[];
    area: number;
    iscrowd: 0;
    segmentation: number[][] | RleLike;
  }[];
  categories: { id: number; name: string; supercategory: string }[];
}

/**
 * Writes the data set under `out`: `train/`, `val/` images, `semantic/{train,val}/*.png`,
 * `annotations/instances_{train,val}.json` and `shapes.json` (the manifest, returned).
 */
export async function writeShapesDataset(out: string, o: ShapesOptions): Promise<ShapesManifest> {
  const { width: w, height: h, seed } = o;
  if (!(o.images >= 1 && Number.isInteger(o.images))) throw new Error(`images must be a positive integer, got ${o.images}`);
  if (!(w >= 16 && h >= 16)) throw new Error(`image size must be at least 16x16, got ${w}x${h}`);
  const nVal = o.images < 2 ? 0 : Math.max(1, Math.round(o.images * (o.valFraction ?? 0.2)));
  const nTrain = o.images - nVal;
  const ext = (o.format ?? 'jpeg') === 'png' ? 'png' : 'jpg';
  const categories = SHAPE_CATEGORIES.map((name, i) => ({ id: i + 1, name, supercategory: 'shape' }));
  const manifest: ShapesManifest = {
    name: 'shapes',
    seed,
    width: w,
    height: h,
    categories: categories.map(({ id, name }) => ({ id, name })),
    semanticClasses: ['background', ...SHAPE_CATEGORIES],
    splits: {
      train: { images: 'train', annotations: 'annotations/instances_train.json', semantic: 'semantic/train', count: nTrain },
      val: { images: 'val', annotations: 'annotations/instances_val.json', semantic: 'semantic/val', count: nVal },
    },
  };
  for (const d of ['train', 'val', 'semantic/train', 'semantic/val', 'annotations']) await mkdir(join(out, d), { recursive: true });
  let annId = 1;
  for (const split of ['train', 'val'] as const) {
    const coco: CocoOut = {
      info: { description: `partialnet synthetic shapes (${split})`, version: '1', seed },
      licenses: [],
      images: [],
      annotations: [],
      categories,
    };
    const first = split === 'train' ? 0 : nTrain;
    const n = split === 'train' ? nTrain : nVal;
    for (let i = first; i < first + n; i++) {
      const imageId = i + 1;
      const rng = new Rng(deriveSeed(seed, imageId));
      const img = renderShapesImage(w, h, rng, o);
      const name = `${String(imageId).padStart(6, '0')}.${ext}`;
      await writeFile(join(out, split, name), await encodeImage(img.image, ext === 'png' ? 'png' : 'jpeg', 92));
      await writeFile(join(out, 'semantic', split, `${String(imageId).padStart(6, '0')}.png`), await encodeLabelMap({ data: img.semantic, width: w, height: h }));
      coco.images.push({ id: imageId, file_name: name, width: w, height: h });
      for (const inst of img.instances) {
        if (inst.area === 0) continue;
        const [x1, y1, x2, y2] = inst.box;
        coco.annotations.push({
          id: annId++,
          image_id: imageId,
          category_id: inst.label + 1,
          bbox: [x1, y1, x2 - x1, y2 - y1],
          area: inst.area,
          iscrowd: 0,
          segmentation: inst.occluded ? bitmapToRle(inst.visible, h, w) : [inst.polygon],
        });
      }
    }
    await writeFile(join(out, manifest.splits[split].annotations), JSON.stringify(coco));
  }
  await writeFile(join(out, 'shapes.json'), JSON.stringify(manifest, null, 2));
  return manifest;
}
