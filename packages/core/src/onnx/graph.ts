import { tf } from '../tf.js';
import type { Module } from '../module/module.js';
import { toTorchLayout, type TorchLayout } from '../module/layout.js';
import { encodeOnnxModel, ONNX_FLOAT, ONNX_INT64, type OnnxAttribute, type OnnxDim, type OnnxInitializer, type OnnxModelProto, type OnnxNode, type OnnxValueInfo } from './model.js';

interface HostWeight {
  name: string;
  shape: readonly number[];
  data: Float32Array | Int32Array;
}

function rawBytes(data: Float32Array | Int32Array | BigInt64Array): Uint8Array {
  // ONNX raw_data is little-endian, like every platform onnxruntime-node ships for.
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Builds an ONNX graph from a Module tree: each module's `exportOnnx` method emits its own nodes
 * into this builder, reading its weights (copied to host memory beforehand, with their PyTorch
 * state-dict names) through `weight()`. Values are plain strings, the ONNX value names.
 */
export class OnnxGraph {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  readonly inputs: OnnxValueInfo[] = [];
  readonly outputs: OnnxValueInfo[] = [];
  /** Values a module computed once and shares with its siblings (keyed by the module's choice). */
  readonly shared = new Map<string, string>();
  readonly #weights: Map<tf.Variable, HostWeight>;
  readonly #initializerKeys = new Map<string, string>();
  readonly #scope: string[] = [];
  readonly #used = new Set<string>();

  private constructor(weights: Map<tf.Variable, HostWeight>) {
    this.#weights = weights;
  }

  /** A builder for `root`'s graph, with every parameter and buffer of the tree read to the host. */
  static async fromModule(root: Module): Promise<OnnxGraph> {
    const weights = new Map<tf.Variable, HostWeight>();
    for (const [name, v] of [...root.namedParameters(), ...root.namedBuffers()]) {
      const data = (await v.data()) as Float32Array | Int32Array;
      weights.set(v, { name, shape: v.shape, data });
    }
    return new OnnxGraph(weights);
  }

  /**
   * Makes the weights of another module tree available (e.g. the fused copy of a backbone that
   * replaces the trained one in the export), their names prefixed with `prefix.`.
   */
  async include(module: Module, prefix: string): Promise<void> {
    for (const [name, v] of [...module.namedParameters(), ...module.namedBuffers()]) {
      const data = (await v.data()) as Float32Array | Int32Array;
      this.#weights.set(v, { name: `${prefix}.${name}`, shape: v.shape, data });
    }
  }

  #unique(base: string): string {
    let name = base;
    for (let k = 1; this.#used.has(name); k++) name = `${base}_${k}`;
    this.#used.add(name);
    return name;
  }

  /** Runs `fn` with `name` appended to the node-name scope (`stages.0.blocks.1/Conv`). */
  scope<T>(name: string, fn: () => T): T {
    this.#scope.push(name);
    try {
      return fn();
    } finally {
      this.#scope.pop();
    }
  }

  #prefix(): string {
    return this.#scope.length ? `${this.#scope.join('.')}/` : '';
  }

  /** Declares a graph input; returns its value name. */
  input(name: string, dims: readonly OnnxDim[], type: OnnxValueInfo['type'] = ONNX_FLOAT): string {
    if (this.#used.has(name)) throw new Error(`OnnxGraph: input name '${name}' is taken`);
    this.#used.add(name);
    this.inputs.push({ name, type, dims });
    return name;
  }

  /** Declares `value` as a graph output called `name` (dims may name dynamic axes). */
  output(value: string, name: string, dims: readonly OnnxDim[], type: OnnxValueInfo['type'] = ONNX_FLOAT): void {
    // Rename the producing node's output rather than adding an Identity node.
    const producer = this.nodes.find((n) => n.outputs.includes(value));
    if (!producer || this.#used.has(name) || this.nodes.some((n) => n.inputs.includes(value)) || this.outputs.some((o) => o.name === value)) {
      this.node('Identity', [value], { outputs: [name] });
    } else {
      (producer.outputs as string[])[producer.outputs.indexOf(value)] = name;
      this.#used.add(name);
    }
    this.outputs.push({ name, type, dims });
  }

  /** Appends a node with `count` outputs (or the given output names); returns the output names. */
  node(opType: string, inputs: readonly string[], options: { attributes?: Record<string, OnnxAttribute>; count?: number; outputs?: string[] } = {}): string[] {
    const name = this.#unique(`${this.#prefix()}${opType}`);
    const outputs = options.outputs ?? Array.from({ length: options.count ?? 1 }, (_, i) => this.#unique(`${name}:${i}`));
    this.nodes.push({ opType, name, inputs, outputs, ...(options.attributes ? { attributes: options.attributes } : {}) });
    return outputs;
  }

  /** A single-output node; returns its output. */
  op(opType: string, inputs: readonly string[], attributes?: Record<string, OnnxAttribute>): string {
    return this.node(opType, inputs, attributes ? { attributes } : {})[0]!;
  }

  /**
   * The initializer holding a module's parameter or buffer, in PyTorch's layout for `layout`
   * ('conv': OIHW; 'same': as stored, so linear weights stay [in, out], what MatMul wants),
   * optionally viewed with other `dims` of the same size (a [C] scale as [C, 1, 1]).
   */
  weight(variable: tf.Variable, layout: TorchLayout = 'same', dims?: readonly number[]): string {
    const w = this.#weights.get(variable);
    if (!w) throw new Error('OnnxGraph.weight: the variable does not belong to the exported module tree');
    const host = toTorchLayout({ dtype: variable.dtype === 'int32' ? 'int32' : 'float32', shape: w.shape, data: w.data }, layout);
    const shape = dims ?? host.shape;
    const key = `w:${w.name}:${layout}:${shape.join('x')}`;
    const cached = this.#initializerKeys.get(key);
    if (cached) return cached;
    const name = this.#unique(w.name);
    if (host.dtype === 'int32') throw new Error(`OnnxGraph.weight: ${w.name} is int32; only float weights are exported`);
    this.initializers.push({ name, dims: shape, type: ONNX_FLOAT, raw: rawBytes(host.data) });
    this.#initializerKeys.set(key, name);
    return name;
  }

  /** A module variable's values as read at the start of the export (for constants folded on the host). */
  hostData(variable: tf.Variable): Float32Array {
    const w = this.#weights.get(variable);
    if (!w || !(w.data instanceof Float32Array)) throw new Error('OnnxGraph.hostData: not a float variable of the exported module tree');
    return w.data;
  }

  /** A float32 constant (deduplicated by value for small ones). */
  constFloat(values: Float32Array | readonly number[], dims: readonly number[], hint = 'const'): string {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    const key = data.length <= 16 ? `f:${dims.join('x')}:${Array.from(data).join(',')}` : undefined;
    if (key && this.#initializerKeys.has(key)) return this.#initializerKeys.get(key)!;
    const name = this.#unique(key ? `${hint}` : `${this.#prefix()}${hint}`);
    this.initializers.push({ name, dims, type: ONNX_FLOAT, raw: rawBytes(data) });
    if (key) this.#initializerKeys.set(key, name);
    return name;
  }

  /** A float32 scalar constant. */
  scalar(value: number): string {
    return this.constFloat([value], [], `c_${String(value).replace(/[^0-9a-z]/gi, '_')}`);
  }

  /** An int64 1-D constant (shapes, axes, split sizes), deduplicated by value. */
  ints(values: readonly number[], hint = 'ints'): string {
    const key = `i:${values.join(',')}`;
    const cached = this.#initializerKeys.get(key);
    if (cached) return cached;
    const name = this.#unique(`${hint}_${values.join('_').replace(/-/g, 'm')}`);
    this.initializers.push({ name, dims: [values.length], type: ONNX_INT64, raw: rawBytes(BigInt64Array.from(values.map((v) => BigInt(v)))) });
    this.#initializerKeys.set(key, name);
    return name;
  }

  /** The ONNX model (chunks to write in order). */
  encode(meta: Omit<OnnxModelProto, 'graph'> & { graphName: string }): Uint8Array[] {
    const { graphName, ...rest } = meta;
    return encodeOnnxModel({ ...rest, graph: { name: graphName, nodes: this.nodes, initializers: this.initializers, inputs: this.inputs, outputs: this.outputs } });
  }
}
