/**
 * A minimal WebAssembly binary writer: just what the SIMD kernels in simd-kernels.ts need (one
 * imported memory, functions of i32 parameters, structured loops, i32 / f32 / v128 arithmetic).
 * Written from the WebAssembly core specification (binary format, chapter 5) and the SIMD
 * proposal's opcode table, so the kernels need no compiler or assembler at build time.
 */

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof F32 | typeof V128;

/** SIMD opcodes (each emitted as 0xfd followed by the opcode in unsigned LEB128). */
export const SIMD = {
  load: 0x00,
  /** One 4-byte value loaded into all four lanes. */
  load32Splat: 0x09,
  store: 0x0b,
  i32x4Splat: 0x11,
  f32x4Splat: 0x13,
  i32x4Eq: 0x37,
  f32x4Lt: 0x43,
  f32x4Ge: 0x46,
  and: 0x4e,
  bitselect: 0x52,
  f32x4Nearest: 0x6a,
  i32x4Shl: 0xab,
  i32x4ShrS: 0xac,
  i32x4Add: 0xae,
  f32x4Abs: 0xe0,
  f32x4Neg: 0xe1,
  /** Correctly rounded square root (IEEE 754), as C's sqrtf. */
  f32x4Sqrt: 0xe3,
  f32x4Add: 0xe4,
  f32x4Sub: 0xe5,
  f32x4Mul: 0xe6,
  f32x4Div: 0xe7,
  f32x4Max: 0xe9,
  /** Pseudo-maximum pmax(a, b) = a < b ? b : a (a NaN `a` passes through): one x86 maxps, where f32x4.max takes ~7. */
  f32x4Pmax: 0xeb,
  i32x4TruncSatF32x4S: 0xf8,
} as const;

/** v128.const (0xfd prefix), followed by its 16 bytes. */
const V128_CONST = 0x0c;

function unsignedLeb(value: number, out: number[]): void {
  let v = value >>> 0;
  do {
    const byte = v & 0x7f;
    v >>>= 7;
    out.push(v === 0 ? byte : byte | 0x80);
  } while (v !== 0);
}

function signedLeb(value: number, out: number[]): void {
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return;
  }
}

function name(text: string, out: number[]): void {
  const bytes = new TextEncoder().encode(text);
  unsignedLeb(bytes.length, out);
  out.push(...bytes);
}

function section(id: number, body: number[], out: number[]): void {
  out.push(id);
  unsignedLeb(body.length, out);
  out.push(...body);
}

/** The body of one function: instructions appended in order (a stack machine, as in the text format). */
export class FunctionBody {
  readonly bytes: number[] = [];
  private readonly extraLocals: ValType[] = [];
  /** v128 constants by their 16 bytes (as a hex string), each to the local that holds it. */
  private readonly constants = new Map<string, number>();

  constructor(readonly params: readonly ValType[]) {}

  /** Declares a local after the parameters and returns its index. */
  local(type: ValType): number {
    this.extraLocals.push(type);
    return this.params.length + this.extraLocals.length - 1;
  }

  get(index: number): this {
    this.bytes.push(0x20);
    unsignedLeb(index, this.bytes);
    return this;
  }

  set(index: number): this {
    this.bytes.push(0x21);
    unsignedLeb(index, this.bytes);
    return this;
  }

  tee(index: number): this {
    this.bytes.push(0x22);
    unsignedLeb(index, this.bytes);
    return this;
  }

  i32(value: number): this {
    this.bytes.push(0x41);
    signedLeb(value, this.bytes);
    return this;
  }

  f32(value: number): this {
    this.bytes.push(0x43);
    const b = new Uint8Array(new Float32Array([value]).buffer);
    this.bytes.push(...b);
    return this;
  }

  i32Add(): this {
    this.bytes.push(0x6a);
    return this;
  }

  i32Sub(): this {
    this.bytes.push(0x6b);
    return this;
  }

  i32Mul(): this {
    this.bytes.push(0x6c);
    return this;
  }

  i32RemU(): this {
    this.bytes.push(0x70);
    return this;
  }

  i32LtU(): this {
    this.bytes.push(0x49);
    return this;
  }

  i32GeU(): this {
    this.bytes.push(0x4f);
    return this;
  }

  /** Calls function `index` of the module (its position in assembleModule's list): no imported functions. */
  call(index: number): this {
    this.bytes.push(0x10);
    unsignedLeb(index, this.bytes);
    return this;
  }

  i32LtS(): this {
    this.bytes.push(0x48);
    return this;
  }

  i32GtS(): this {
    this.bytes.push(0x4a);
    return this;
  }

  i32Ne(): this {
    this.bytes.push(0x47);
    return this;
  }

  /** Pops c, b, a (a pushed first): a when c is not zero, else b. */
  select(): this {
    this.bytes.push(0x1b);
    return this;
  }

  /** i32.load of 4 bytes (alignment hint 4 bytes) at the address on the stack plus `offset`. */
  i32Load(offset = 0): this {
    this.bytes.push(0x28, 2);
    unsignedLeb(offset, this.bytes);
    return this;
  }

  /** i32.store of 4 bytes: pops the value, then the address. */
  i32Store(offset = 0): this {
    this.bytes.push(0x36, 2);
    unsignedLeb(offset, this.bytes);
    return this;
  }

  i32Eqz(): this {
    this.bytes.push(0x45);
    return this;
  }

  i32Load8(): this {
    this.bytes.push(0x2d, 0, 0);
    return this;
  }

  i32Store8(): this {
    this.bytes.push(0x3a, 0, 0);
    return this;
  }

  /** f32.store at the address below the value on the stack (alignment hint 4 bytes). */
  f32Store(): this {
    this.bytes.push(0x38, 2, 0);
    return this;
  }

  /** f32x4.extract_lane: the f32 in lane `lane` (0-3) of the v128 on the stack. */
  f32x4ExtractLane(lane: number): this {
    this.bytes.push(0xfd);
    unsignedLeb(0x1f, this.bytes);
    this.bytes.push(lane);
    return this;
  }

  /** `if` with no result: runs what follows when the i32 on the stack is not zero. */
  if(): this {
    this.bytes.push(0x04, 0x40);
    return this;
  }

  else(): this {
    this.bytes.push(0x05);
    return this;
  }

  /** `block` with no result: `br 0` inside it jumps past its `end`. */
  block(): this {
    this.bytes.push(0x02, 0x40);
    return this;
  }

  /** `loop` with no result: `br 0` inside it jumps back to its start. */
  loop(): this {
    this.bytes.push(0x03, 0x40);
    return this;
  }

  end(): this {
    this.bytes.push(0x0b);
    return this;
  }

  br(depth: number): this {
    this.bytes.push(0x0c);
    unsignedLeb(depth, this.bytes);
    return this;
  }

  brIf(depth: number): this {
    this.bytes.push(0x0d);
    unsignedLeb(depth, this.bytes);
    return this;
  }

  /** A SIMD instruction; loads and stores take a byte offset (the alignment hint is 1 byte). */
  simd(op: number, memOffset?: number): this {
    this.bytes.push(0xfd);
    unsignedLeb(op, this.bytes);
    if (op === SIMD.load || op === SIMD.store || op === SIMD.load32Splat) {
      this.bytes.push(0);
      unsignedLeb(memOffset ?? 0, this.bytes);
    }
    return this;
  }

  /**
   * f32x4 with every lane `value`, read once, on entry, into a local from a mutable v128 global
   * that holds it (one per distinct constant in the module). A splat of a literal, even one kept
   * in a local, is folded back by V8's optimizing tier into each use and rebuilt there (three x86
   * instructions per use inside the loops, measured as most of the GELU kernel's time); a
   * mutable global's load is an effect it keeps where it is, so the value stays in a register or
   * a stack slot.
   */
  f32x4(value: number): this {
    return this.v128(new Uint8Array(new Float32Array([value, value, value, value]).buffer));
  }

  /** i32x4 with every lane `value` (as f32x4). */
  i32x4(value: number): this {
    return this.v128(new Uint8Array(new Int32Array([value, value, value, value]).buffer));
  }

  /** i32x4 with lanes a, b, c, d (lane 0 first; as f32x4). */
  i32x4Lanes(a: number, b: number, c: number, d: number): this {
    return this.v128(new Uint8Array(new Int32Array([a, b, c, d]).buffer));
  }

  private v128(bytes: Uint8Array): this {
    const key = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    let index = this.constants.get(key);
    if (index === undefined) {
      index = this.local(V128);
      this.constants.set(key, index);
    }
    return this.get(index);
  }

  /** The v128 constants this body reads, as hex strings of their 16 bytes (see f32x4). */
  constantValues(): string[] {
    return [...this.constants.keys()];
  }

  /** The body's bytes; `globalOf` gives the index of the global that holds each constant. */
  encode(globalOf: (constant: string) => number): number[] {
    const out: number[] = [];
    unsignedLeb(this.extraLocals.length, out);
    for (const type of this.extraLocals) out.push(1, type);
    for (const [value, index] of this.constants) {
      out.push(0x23);
      unsignedLeb(globalOf(value), out);
      out.push(0x21);
      unsignedLeb(index, out);
    }
    out.push(...this.bytes, 0x0b);
    const sized: number[] = [];
    unsignedLeb(out.length, sized);
    return [...sized, ...out];
  }
}

export interface ExportedFunction {
  name: string;
  body: FunctionBody;
}

/**
 * A function that calls function `callee` `count` times: its i32 parameters are the callee's
 * `calleeParams`, then count, then one stride per pointer in `advanced` (indices among the
 * callee's parameters), each pointer advanced by its stride after every call. One call of it is a
 * share of a batch on the kernel pool (whole products, whole planes per thread).
 */
export function repeatedCallBody(callee: number, calleeParams: number, advanced: readonly number[]): FunctionBody {
  const count = calleeParams;
  const f = new FunctionBody(new Array(calleeParams + 1 + advanced.length).fill(I32));
  f.block().loop();
  f.get(count).i32Eqz().brIf(1);
  for (let p = 0; p < calleeParams; p++) f.get(p);
  f.call(callee);
  advanced.forEach((pointer, i) => f.get(pointer).get(count + 1 + i).i32Add().set(pointer));
  f.get(count).i32(1).i32Sub().set(count);
  f.br(0).end().end();
  return f;
}

/**
 * A module that imports its memory as `env.memory` (no result types: the functions write to
 * memory). `shared` must match the memory given at instantiation: a shared import needs a maximum,
 * and 65536 pages (4 GiB) admits any 32-bit memory.
 */
export function assembleModule(functions: readonly ExportedFunction[], shared: boolean): Uint8Array {
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const types: number[] = [];
  unsignedLeb(functions.length, types);
  for (const f of functions) {
    types.push(0x60);
    unsignedLeb(f.body.params.length, types);
    types.push(...f.body.params, 0);
  }
  section(1, types, out);
  const imports: number[] = [1];
  name('env', imports);
  name('memory', imports);
  imports.push(0x02);
  if (shared) {
    imports.push(0x03);
    unsignedLeb(1, imports);
    unsignedLeb(65536, imports);
  } else {
    imports.push(0x00);
    unsignedLeb(1, imports);
  }
  section(2, imports, out);
  const funcs: number[] = [];
  unsignedLeb(functions.length, funcs);
  functions.forEach((_, i) => unsignedLeb(i, funcs));
  section(3, funcs, out);
  // the v128 constants, each as a (mut v128) global initialised to it and never written
  const constants = [...new Set(functions.flatMap((f) => f.body.constantValues()))];
  const globalIndex = new Map(constants.map((v, i) => [v, i]));
  const globals: number[] = [];
  unsignedLeb(constants.length, globals);
  for (const hex of constants) {
    globals.push(V128, 1, 0xfd);
    unsignedLeb(V128_CONST, globals);
    for (let b = 0; b < 32; b += 2) globals.push(parseInt(hex.slice(b, b + 2), 16));
    globals.push(0x0b);
  }
  section(6, globals, out);
  const exports: number[] = [];
  unsignedLeb(functions.length, exports);
  functions.forEach((f, i) => {
    name(f.name, exports);
    exports.push(0x00);
    unsignedLeb(i, exports);
  });
  section(7, exports, out);
  const code: number[] = [];
  unsignedLeb(functions.length, code);
  for (const f of functions) code.push(...f.body.encode((v) => globalIndex.get(v)!));
  section(10, code, out);
  return new Uint8Array(out);
}

/**
 * `build(shared, fma)` once per combination: a generated module's binary for a plain or a shared
 * memory (and, for modules with matrix products, with or without relaxed_madd).
 */
export function memoBinary(build: (shared: boolean, fma: boolean) => Uint8Array): (shared: boolean, fma?: boolean) => Uint8Array {
  const made = new Map<string, Uint8Array>();
  return (shared, fma = false) => {
    const key = `${shared} ${fma}`;
    let binary = made.get(key);
    if (!binary) {
      binary = build(shared, fma);
      made.set(key, binary);
    }
    return binary;
  };
}
