// Generates the WebAssembly module of src/render-wasm.ts (the hex string WASM_RENDER there):
// `node scripts/gen-render-wasm.mjs`. A tiny hand assembler, so no toolchain is needed.
// Both functions compute exactly what the scalar JS kernels in src/kernels.ts compute:
// float32 values widened to float64, a + (b - a) * w in float64 (wasm never fuses), rounded to
// float32 (nearest even) on store.

const leb = (n) => {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const sleb = (n) => {
  const out = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
};
const str = (s) => [...leb(s.length), ...Buffer.from(s)];
const vec = (items) => [...leb(items.length), ...items.flat()];
const section = (id, body) => [id, ...leb(body.length), ...body];

const I32 = 0x7f, F64 = 0x7c, V128 = 0x7b;
const get = (i) => [0x20, i], set = (i) => [0x21, i], tee = (i) => [0x22, i];
const i32c = (v) => [0x41, ...sleb(v)];
const add = [0x6a], shl = [0x74], ltu = [0x49], eqz = [0x45];
const mem = (align, off) => [align, ...leb(off)];
const i32load = (off) => [0x28, ...mem(2, off)];
const f32load = (off) => [0x2a, ...mem(2, off)];
const f32store = (off) => [0x38, ...mem(2, off)];
const u8load = (off) => [0x2d, ...mem(0, off)];
const f64promote = [0xbb], f32demote = [0xb6];
const f64add = [0xa0], f64sub = [0xa1], f64mul = [0xa2];
const simd = (op) => [0xfd, ...leb(op)];
const v128load64zero = [...simd(0x5d), ...mem(3, 0)];
const v128store64lane0 = [...simd(0x5b), ...mem(3, 0), 0];
const f64x2splat = simd(0x14), promoteLow = simd(0x5f), demoteZero = simd(0x5e);
const f64x2add = simd(0xf0), f64x2sub = simd(0xf1), f64x2mul = simd(0xf2);
const block = (body) => [0x02, 0x40, ...body, 0x0b];
const loop = (body) => [0x03, 0x40, ...body, 0x0b];
const brIf = (d) => [0x0d, d];
const func = (locals, body) => {
  const b = [...vec(locals.map(([n, t]) => [...leb(n), t])), ...body, 0x0b];
  return [...leb(b.length), ...b];
};

// v(pa, pb, po, n, w): po[k] = pa[k] + (pb[k] - pa[k]) * w, k < n (float32 rows; may write k = n).
// params 0 pa, 1 pb, 2 po, 3 n, 4 w; locals 5 i, 6 end, 7 wv, 8 a
const vBody = [
  ...get(4), ...f64x2splat, ...set(7),
  ...get(3), ...i32c(2), ...shl, ...set(6),
  ...block([
    ...get(6), ...eqz, ...brIf(0),
    ...loop([
      ...get(2), ...get(5), ...add,
      ...get(0), ...get(5), ...add, ...v128load64zero, ...promoteLow, ...tee(8),
      ...get(1), ...get(5), ...add, ...v128load64zero, ...promoteLow, ...get(8), ...f64x2sub,
      ...get(7), ...f64x2mul, ...f64x2add, ...demoteZero, ...v128store64lane0,
      ...get(5), ...i32c(8), ...add, ...tee(5), ...get(6), ...ltu, ...brIf(0),
    ]),
  ]),
];

// l(ps, sn, plut, pl): one source row of sn RGB bytes at ps mapped through the float32 table at
// plut ([c * 256 + v]) into float32s at pl (what the JS lutRow does).
// params 0 ps, 1 sn, 2 plut, 3 pl; locals 4 j
const lChannel = (c) => [
  ...get(3), ...get(2), ...get(0), ...get(4), ...add, ...u8load(c), ...i32c(2), ...shl, ...add, ...f32load(1024 * c), ...f32store(4 * c),
];
const lBody = [
  ...block([
    ...get(1), ...eqz, ...brIf(0),
    ...loop([
      ...lChannel(0), ...lChannel(1), ...lChannel(2),
      ...get(3), ...i32c(12), ...add, ...set(3),
      ...get(4), ...i32c(3), ...add, ...tee(4), ...get(1), ...ltu, ...brIf(0),
    ]),
  ]),
];

// h(pl, ta, tb, tw, dstW, pd): horizontal interpolation of a mapped row at pl (what the JS hInterp
// does): output pixel x (byte offset 4x in the tables) has taps ta[x], tb[x] (byte offsets of the
// source pixels in the row) and weight tw[x]; pd[3x + c] = L[a + c] + (L[b + c] - L[a + c]) * w.
// Channels 0 and 1 as one f64x2, channel 2 scalar.
// params 0 pl, 1 ta, 2 tb, 3 tw, 4 dstW, 5 pd; locals 6 x, 7 end, 8 sa, 9 sb, 10 w, 11 va, 12 w2, 13 va01
const hBody = [
  ...get(4), ...i32c(2), ...shl, ...set(7),
  ...block([
    ...get(7), ...eqz, ...brIf(0),
    ...loop([
      ...get(0), ...get(1), ...get(6), ...add, ...i32load(0), ...add, ...set(8),
      ...get(0), ...get(2), ...get(6), ...add, ...i32load(0), ...add, ...set(9),
      ...get(3), ...get(6), ...add, ...f32load(0), ...f64promote, ...tee(10), ...f64x2splat, ...set(12),
      // channels 0, 1
      ...get(5),
      ...get(8), ...v128load64zero, ...promoteLow, ...tee(13),
      ...get(9), ...v128load64zero, ...promoteLow, ...get(13), ...f64x2sub,
      ...get(12), ...f64x2mul, ...f64x2add, ...demoteZero, ...v128store64lane0,
      // channel 2
      ...get(5),
      ...get(8), ...f32load(8), ...f64promote, ...tee(11),
      ...get(9), ...f32load(8), ...f64promote, ...get(11), ...f64sub,
      ...get(10), ...f64mul, ...f64add, ...f32demote, ...f32store(8),
      ...get(5), ...i32c(12), ...add, ...set(5),
      ...get(6), ...i32c(4), ...add, ...tee(6), ...get(7), ...ltu, ...brIf(0),
    ]),
  ]),
];

const PAGES = 16;
const bytes = [
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, vec([
    [0x60, ...vec([[I32], [I32], [I32], [I32], [F64]]), 0x00],
    [0x60, ...vec([[I32], [I32], [I32], [I32]]), 0x00],
    [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32]]), 0x00],
  ])),
  ...section(2, vec([[...str('e'), ...str('m'), 0x02, 0x01, ...leb(PAGES), ...leb(PAGES)]])),
  ...section(3, vec([[0], [1], [2]])),
  ...section(7, vec([[...str('v'), 0x00, 0], [...str('l'), 0x00, 1], [...str('h'), 0x00, 2]])),
  ...section(10, vec([
    func([[2, I32], [2, V128]], vBody),
    func([[1, I32]], lBody),
    func([[4, I32], [2, F64], [2, V128]], hBody),
  ])),
];
const hex = Buffer.from(bytes).toString('hex');
console.log(hex);
