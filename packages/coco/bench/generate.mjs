// Deterministic synthetic COCO problems for the benchmark (seeded PRNG, no external data).
import { closeSync, openSync, writeSync } from 'node:fs';

export const COCO_CAT_IDS = Array.from({ length: 90 }, (_, i) => i + 1).filter(
  (id) => ![12, 26, 29, 30, 45, 66, 68, 69, 71, 83].includes(id),
);

export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const r2 = (x) => Math.round(x * 100) / 100;

/** A star-shaped polygon inside the box, n points, COCO-like two-decimal coordinates. */
export function polygonIn(rand, x, y, w, h, n) {
  const cx = x + w / 2;
  const cy = y + h / 2;
  const out = [];
  for (let i = 0; i < n; i++) {
    const a = (2 * Math.PI * i) / n;
    const rr = 0.6 + 0.4 * rand();
    out.push(r2(cx + Math.cos(a) * rr * (w / 2)), r2(cy + Math.sin(a) * rr * (h / 2)));
  }
  return out;
}

function jitterBox(rand, [x, y, w, h], s) {
  const dx = (rand() - 0.5) * s * w;
  const dy = (rand() - 0.5) * s * h;
  const sw = 1 + (rand() - 0.5) * s;
  const sh = 1 + (rand() - 0.5) * s;
  return [r2(Math.max(0, x + dx)), r2(Math.max(0, y + dy)), r2(Math.max(1, w * sw)), r2(Math.max(1, h * sh))];
}

/**
 * COCO-val-like detection problem: nImages images, about 7 objects each (1% crowd), and
 * detsPerImage detections per image: jittered copies of the objects (right or confused category)
 * plus background boxes, with random scores. withMasks adds polygon ground truth.
 */
export function makeProblem({ seed = 1, nImages = 5000, detsPerImage = 100, withMasks = false } = {}) {
  const rand = mulberry32(seed);
  const images = [];
  const annotations = [];
  const results = [];
  let annId = 1;
  for (let i = 0; i < nImages; i++) {
    const id = 100000 + i * 7;
    const width = 480 + Math.floor(rand() * 161);
    const height = 360 + Math.floor(rand() * 161);
    images.push({ id, width, height, file_name: `${String(id).padStart(12, '0')}.jpg` });
    const nObj = 1 + Math.floor(rand() * 13);
    const imgCats = Array.from({ length: 4 }, () => COCO_CAT_IDS[Math.floor(rand() * 80)]);
    const objs = [];
    for (let k = 0; k < nObj; k++) {
      const scale = rand() < 0.4 ? 8 + rand() * 30 : rand() < 0.6 ? 32 + rand() * 64 : 96 + rand() * 250;
      const w = r2(Math.min(width - 2, scale * (0.5 + rand())));
      const h = r2(Math.min(height - 2, scale * (0.5 + rand())));
      const x = r2(rand() * (width - w));
      const y = r2(rand() * (height - h));
      const cat = imgCats[Math.floor(rand() * imgCats.length)];
      const iscrowd = rand() < 0.01 ? 1 : 0;
      const ann = { id: annId++, image_id: id, category_id: cat, bbox: [x, y, w, h], area: r2(w * h * 0.7), iscrowd };
      if (withMasks) ann.segmentation = [polygonIn(rand, x, y, w, h, 8 + Math.floor(rand() * 20))];
      annotations.push(ann);
      objs.push(ann);
    }
    for (let d = 0; d < detsPerImage; d++) {
      let bbox;
      let cat;
      if (d < objs.length * 6) {
        const o = objs[d % objs.length];
        bbox = jitterBox(rand, o.bbox, 0.35);
        cat = rand() < 0.85 ? o.category_id : imgCats[Math.floor(rand() * imgCats.length)];
      } else {
        const w = r2(10 + rand() * 200);
        const h = r2(10 + rand() * 200);
        bbox = [r2(rand() * (width - w)), r2(rand() * (height - h)), w, h];
        cat = rand() < 0.5 ? imgCats[Math.floor(rand() * imgCats.length)] : COCO_CAT_IDS[Math.floor(rand() * 80)];
      }
      results.push({ image_id: id, category_id: cat, bbox, score: Math.round(rand() * 1000) / 1000 });
    }
  }
  const categories = COCO_CAT_IDS.map((id) => ({ id, name: `cat_${id}`, supercategory: 'thing' }));
  return { dataset: { info: { description: 'synthetic benchmark' }, images, annotations, categories }, results };
}

/**
 * Streams an instances_train2017-sized file to disk without holding it in memory: nImages images
 * and nAnns polygon annotations (about 26 points each, 1% crowd RLE), two-decimal coordinates.
 */
export function writeBigInstances(path, { seed = 7, nImages = 118287, nAnns = 860001 } = {}) {
  const rand = mulberry32(seed);
  const fd = openSync(path, 'w');
  let buf = '';
  let bytes = 0;
  const put = (s) => {
    buf += s;
    if (buf.length > 1 << 22) {
      bytes += writeSync(fd, buf);
      buf = '';
    }
  };
  put('{"info": {"description": "synthetic train2017-sized file"}, "licenses": [], "images": [');
  const sizes = [];
  for (let i = 0; i < nImages; i++) {
    const w = 480 + Math.floor(rand() * 161);
    const h = 360 + Math.floor(rand() * 161);
    sizes.push([w, h]);
    put(`${i ? ', ' : ''}{"license": 3, "file_name": "${String(i + 1).padStart(12, '0')}.jpg", "coco_url": "http://images.cocodataset.org/train2017/${String(i + 1).padStart(12, '0')}.jpg", "height": ${h}, "width": ${w}, "date_captured": "2013-11-14 11:18:45", "id": ${i + 1}}`);
  }
  put('], "annotations": [');
  for (let a = 0; a < nAnns; a++) {
    const img = Math.floor(rand() * nImages);
    const [W, H] = sizes[img];
    const w = r2(4 + rand() * (W / 2));
    const h = r2(4 + rand() * (H / 2));
    const x = r2(rand() * (W - w));
    const y = r2(rand() * (H - h));
    const cat = COCO_CAT_IDS[Math.floor(rand() * 80)];
    const crowd = rand() < 0.01;
    let seg;
    if (crowd) {
      const counts = [];
      let left = W * H;
      while (left > 0) {
        const c = Math.min(left, 1 + Math.floor(rand() * 4000));
        counts.push(c);
        left -= c;
      }
      seg = `{"counts": [${counts.join(', ')}], "size": [${H}, ${W}]}`;
    } else {
      seg = `[[${polygonIn(rand, x, y, w, h, 10 + Math.floor(rand() * 31)).join(', ')}]]`;
    }
    put(`${a ? ', ' : ''}{"segmentation": ${seg}, "area": ${r2(w * h * 0.6)}, "iscrowd": ${crowd ? 1 : 0}, "image_id": ${img + 1}, "bbox": [${x}, ${y}, ${w}, ${h}], "category_id": ${cat}, "id": ${a + 1}}`);
  }
  put('], "categories": [');
  put(COCO_CAT_IDS.map((id) => `{"supercategory": "thing", "id": ${id}, "name": "cat_${id}"}`).join(', '));
  put(']}');
  bytes += writeSync(fd, buf);
  closeSync(fd);
  return bytes;
}
