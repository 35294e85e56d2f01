import { tf } from '../tf.js';
import { shapeSize, type HostTensor, type StateDict } from '../host-tensor.js';
import { rememberHostValues } from '../host-values.js';
import { fromTorchLayout, toTorchLayout, torchShape, type TorchLayout } from './layout.js';

/** State dict entries up to this size stay known on the host after loading (see host-values.ts). */
const SMALL_HOST_COPY = 64;

interface Slot {
  variable: tf.Variable;
  layout: TorchLayout;
}

export interface LoadStateDictOptions {
  /** Throw when names are missing, unexpected or wrongly shaped (default true). */
  strict?: boolean;
  /** Names that may be absent from the dict without an error (they stay as initialised). */
  allowMissing?: (name: string) => boolean;
  /** Describes the receiving model in error messages (default: its class name). */
  label?: string;
}

export interface LoadStateDictResult {
  missing: string[];
  unexpected: string[];
  mismatched: { name: string; expected: number[]; got: number[] }[];
}

/** Names PyTorch keeps in state dicts that carry no information for inference or training here. */
const IGNORED_SUFFIXES = ['.num_batches_tracked'];

/**
 * A tree of layers in the style of torch.nn.Module: named parameters (trainable tf.Variables),
 * buffers (non-trainable state such as BatchNorm statistics) and children, with state dicts that
 * use PyTorch names and layouts so that official checkpoints load as they are.
 */
export class Module {
  protected training = true;
  readonly #parameters = new Map<string, Slot>();
  readonly #buffers = new Map<string, Slot>();
  readonly #children = new Map<string, Module>();

  protected addParameter(name: string, value: tf.Tensor, layout: TorchLayout = 'same'): tf.Variable {
    this.#assertFree(name);
    const variable = tf.variable(value, true);
    value.dispose();
    this.#parameters.set(name, { variable, layout });
    return variable;
  }

  protected addBuffer(name: string, value: tf.Tensor, layout: TorchLayout = 'same'): tf.Variable {
    this.#assertFree(name);
    const variable = tf.variable(value, false);
    value.dispose();
    this.#buffers.set(name, { variable, layout });
    return variable;
  }

  protected addChild<M extends Module>(name: string, child: M): M {
    this.#assertFree(name);
    this.#children.set(name, child);
    return child;
  }

  #assertFree(name: string): void {
    if (this.#parameters.has(name) || this.#buffers.has(name) || this.#children.has(name)) {
      throw new Error(`${this.constructor.name}: '${name}' is registered twice`);
    }
  }

  get isTraining(): boolean {
    return this.training;
  }

  /** Switches this module and every descendant to training (true) or inference (false) mode. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  *namedChildren(): IterableIterator<[string, Module]> {
    yield* this.#children;
  }

  /** This module (name '') and all descendants, depth first, with dotted names. */
  *namedModules(prefix = ''): IterableIterator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this.#children) yield* child.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  *namedParameters(): IterableIterator<[string, tf.Variable]> {
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, slot] of m.#parameters) yield [prefix ? `${prefix}.${name}` : name, slot.variable];
    }
  }

  *namedBuffers(): IterableIterator<[string, tf.Variable]> {
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, slot] of m.#buffers) yield [prefix ? `${prefix}.${name}` : name, slot.variable];
    }
  }

  /** Trainable variables, in registration order (what `tf.variableGrads` should differentiate). */
  parameters(): tf.Variable[] {
    return [...this.namedParameters()].map(([, v]) => v).filter((v) => v.trainable);
  }

  /** Number of parameter values (buffers excluded), like `sum(p.numel() for p in m.parameters())`. */
  numParameters(): number {
    let n = 0;
    for (const [, v] of this.namedParameters()) n += v.size;
    return n;
  }

  *#slots(): IterableIterator<[string, Slot]> {
    for (const [prefix, m] of this.namedModules()) {
      const dot = prefix ? `${prefix}.` : '';
      for (const [name, slot] of m.#parameters) yield [dot + name, slot];
      for (const [name, slot] of m.#buffers) yield [dot + name, slot];
    }
  }

  /**
   * Parameters and buffers in PyTorch names and layouts, copied to host memory. Asynchronous
   * because on a GPU backend a read is: every tensor is read with `await data()`.
   */
  async stateDict(): Promise<StateDict> {
    const dict: StateDict = new Map();
    for (const [name, slot] of this.#slots()) {
      const v = slot.variable;
      const data = v.dtype === 'int32' ? ((await v.data()) as Int32Array) : ((await v.data()) as Float32Array);
      const local: HostTensor = { dtype: v.dtype === 'int32' ? 'int32' : 'float32', shape: v.shape, data: data.slice() };
      dict.set(name, toTorchLayout(local, slot.layout));
    }
    return dict;
  }

  /**
   * Copies tensors from a PyTorch-named state dict into this module. `num_batches_tracked` entries
   * are ignored. In strict mode (the default) any missing, unexpected or wrongly shaped name is an
   * error that lists all of them; otherwise matching entries load and the rest are reported.
   */
  loadStateDict(dict: StateDict, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    const slots = new Map(this.#slots());
    const result: LoadStateDictResult = { missing: [], unexpected: [], mismatched: [] };
    for (const name of dict.keys()) {
      if (!slots.has(name) && !IGNORED_SUFFIXES.some((s) => name.endsWith(s))) result.unexpected.push(name);
    }
    const toLoad: [Slot, HostTensor][] = [];
    for (const [name, slot] of slots) {
      const entry = dict.get(name);
      if (!entry) {
        result.missing.push(name);
        continue;
      }
      const expected = torchShape(slot.variable.shape, slot.layout);
      const sameShape = expected.length === entry.shape.length && expected.every((d, i) => d === entry.shape[i]);
      if (!sameShape || entry.data.length !== shapeSize(expected)) {
        result.mismatched.push({ name, expected, got: [...entry.shape] });
        continue;
      }
      toLoad.push([slot, entry]);
    }
    const allowed = options.allowMissing ?? (() => false);
    const problems = describeProblems({ ...result, missing: result.missing.filter((n) => !allowed(n)) });
    if (strict && problems) throw new Error(`loadStateDict: the state dict does not fit ${options.label ?? this.constructor.name}:\n${problems}`);
    for (const [slot, entry] of toLoad) {
      const local = fromTorchLayout(entry, slot.layout);
      const value = tf.tensor(local.data, slot.variable.shape, slot.variable.dtype);
      slot.variable.assign(value);
      value.dispose();
      // Small values (gates, counters) may steer host control flow: keep them readable there.
      if (local.data.length <= SMALL_HOST_COPY) rememberHostValues(slot.variable, local.data.slice()); // a copy: data may view a whole file
    }
    return result;
  }

  /** Releases every variable of the tree. The module must not be used afterwards. */
  dispose(): void {
    for (const [, slot] of this.#slots()) slot.variable.dispose();
  }
}

function describeProblems(r: LoadStateDictResult): string {
  const lines: string[] = [];
  const list = (label: string, names: string[]) => {
    if (names.length === 0) return;
    const shown = names.slice(0, 20).join(', ');
    lines.push(`  ${label} (${names.length}): ${shown}${names.length > 20 ? ', ...' : ''}`);
  };
  list('missing', r.missing);
  list('unexpected', r.unexpected);
  if (r.mismatched.length > 0) {
    lines.push(`  wrong shape (${r.mismatched.length}):`);
    for (const m of r.mismatched.slice(0, 20)) {
      lines.push(`    ${m.name}: expected [${m.expected.join(', ')}], got [${m.got.join(', ')}]`);
    }
  }
  if (r.mismatched.length > 0 || r.missing.length > 0) {
    lines.push('  Are these weights for another variant or configuration?');
  }
  return lines.join('\n');
}
