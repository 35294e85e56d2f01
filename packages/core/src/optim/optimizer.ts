import { hostTensor, type StateDict } from '../host-tensor.js';
import { addN } from '../ops/add-n.js';
import { fusedAdamW, fusedSGD, type AdamWScalars, type SGDScalars } from './fused-update.js';
import { tf } from '../tf.js';
import type { NamedTensorMap, Tensor, Variable } from '../tf.js';

/** A set of parameters sharing hyper-parameters (e.g. norms and biases without weight decay). */
export interface ParamGroup {
  params: Variable[];
  /** Overrides the optimizer's weight decay for this group. */
  weightDecay?: number;
  /** This group's learning rate is `lr * lrScale` (default 1). */
  lrScale?: number;
}

interface Slot {
  param: Variable;
  group: ParamGroup;
  /** Updates applied to this parameter (parameters without a gradient are skipped, as in PyTorch). */
  step: number;
  buffers: Map<string, Variable>;
}

/**
 * Shared machinery: parameter groups, per-parameter state buffers (tf.Variables, created lazily),
 * state export/import, disposal.
 *
 * State dict layout, PyTorch-like: `state.<i>.<buffer>` (float32, the parameter's shape) and
 * `state.<i>.step` (int32 [1]), where i is the parameter's position when the groups' params are
 * listed in order. Resuming therefore needs the optimizer to be built over the same parameters in
 * the same order, which is what building the same model and calling the same group function does;
 * `loadStateDict` checks every shape and fails on a mismatch rather than resuming silently wrong.
 */
export abstract class Optimizer {
  /** Base learning rate; set it before each step from a schedule. */
  lr: number;
  protected readonly slots: Slot[] = [];
  private readonly byName = new Map<string, Slot>();

  protected constructor(groups: ParamGroup[] | Variable[], lr: number) {
    if (!(lr >= 0)) throw new Error(`optimizer: lr must be >= 0, got ${lr}`);
    this.lr = lr;
    const list: ParamGroup[] = groups.length > 0 && 'params' in (groups[0] as object) ? (groups as ParamGroup[]) : [{ params: groups as Variable[] }];
    for (const group of list) {
      for (const param of group.params) {
        if (this.byName.has(param.name)) throw new Error(`optimizer: parameter '${param.name}' is listed twice`);
        const slot: Slot = { param, group, step: 0, buffers: new Map() };
        this.slots.push(slot);
        this.byName.set(param.name, slot);
      }
    }
  }

  /** The parameters in state-dict order. */
  get params(): Variable[] {
    return this.slots.map((s) => s.param);
  }

  /**
   * Applies one update. `grads` is keyed by variable name, as `tf.variableGrads` returns it;
   * parameters without an entry are left alone. `lr` overrides `this.lr` for this and later steps.
   * The caller still owns (and disposes) `grads`.
   */
  step(grads: NamedTensorMap, lr?: number): void {
    if (lr !== undefined) this.lr = lr;
    for (const name of Object.keys(grads)) {
      if (!this.byName.has(name)) throw new Error(`optimizer: gradient for '${name}', which is not one of its parameters`);
    }
    for (const slot of this.slots) {
      const grad = grads[slot.param.name];
      if (!grad) continue;
      if (grad.shape.length !== slot.param.shape.length || grad.shape.some((d, i) => d !== slot.param.shape[i])) {
        throw new Error(
          `optimizer: gradient for '${slot.param.name}' has shape [${grad.shape.join(', ')}], parameter [${slot.param.shape.join(', ')}]`,
        );
      }
      slot.step += 1;
      const groupLr = this.lr * (slot.group.lrScale ?? 1);
      tf.tidy(() => this.update(slot, grad, groupLr));
    }
  }

  /** One parameter's update, run inside tf.tidy; assign results with `variable.assign`. */
  protected abstract update(slot: Slot, grad: Tensor, lr: number): void;

  /** Names of the per-parameter buffers this optimizer keeps (for state export). */
  protected abstract readonly bufferNames: readonly string[];

  protected buffer(slot: Slot, name: string, init?: () => Tensor): Variable {
    let v = slot.buffers.get(name);
    if (!v) {
      const initial = init ? init() : tf.zerosLike(slot.param);
      // A variable shares its initial tensor's data; the tensor object itself would leak.
      v = tf.variable(initial, false);
      initial.dispose();
      slot.buffers.set(name, v);
    }
    return v;
  }

  /** The optimizer state on the host (asynchronous: on a GPU backend reading is). */
  async stateDict(): Promise<StateDict> {
    const out: StateDict = new Map();
    for (const [i, slot] of this.slots.entries()) {
      if (slot.step === 0 && slot.buffers.size === 0) continue;
      out.set(`state.${i}.step`, hostTensor(Int32Array.of(slot.step), [1]));
      for (const name of this.bufferNames) {
        const v = slot.buffers.get(name);
        if (v) out.set(`state.${i}.${name}`, hostTensor(((await v.data()) as Float32Array).slice(), v.shape));
      }
    }
    return out;
  }

  /** Restores `stateDict()` output; checks everything before changing anything. */
  loadStateDict(dict: StateDict): void {
    const seen = new Set<string>();
    const problems: string[] = [];
    const plan: { slot: Slot; step: number; buffers: Map<string, Float32Array> }[] = [];
    this.slots.forEach((slot, i) => {
      const step = dict.get(`state.${i}.step`);
      if (!step) return;
      seen.add(`state.${i}.step`);
      const buffers = new Map<string, Float32Array>();
      for (const name of this.bufferNames) {
        const key = `state.${i}.${name}`;
        const t = dict.get(key);
        if (!t) continue;
        seen.add(key);
        const same = t.shape.length === slot.param.shape.length && t.shape.every((d, k) => d === slot.param.shape[k]);
        if (t.dtype !== 'float32' || !same) {
          problems.push(`${key}: ${t.dtype} [${t.shape.join(', ')}] does not match parameter '${slot.param.name}' [${slot.param.shape.join(', ')}]`);
          continue;
        }
        buffers.set(name, t.data as Float32Array);
      }
      plan.push({ slot, step: step.data[0]!, buffers });
    });
    for (const key of dict.keys()) if (!seen.has(key)) problems.push(`${key}: unexpected (the optimizer has ${this.slots.length} parameters)`);
    if (problems.length > 0) throw new Error(`optimizer state does not match its parameters:\n  ${problems.join('\n  ')}`);
    for (const { slot, step, buffers } of plan) {
      slot.step = step;
      for (const [name, data] of buffers) {
        const v = this.buffer(slot, name);
        tf.tidy(() => v.assign(tf.tensor(data, slot.param.shape, 'float32')));
      }
    }
  }

  /** Frees the state buffers (not the parameters). */
  dispose(): void {
    for (const slot of this.slots) {
      for (const v of slot.buffers.values()) v.dispose();
      slot.buffers.clear();
      slot.step = 0;
    }
  }
}

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  /** Default for groups that do not set their own (PyTorch's default, 0.01). */
  weightDecay?: number;
}

/**
 * AdamW exactly as torch.optim.AdamW (amsgrad off): p *= 1 - lr*wd; m = b1*m + (1-b1)*g;
 * v = b2*v + (1-b2)*g^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 */
export class AdamW extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  protected readonly bufferNames = ['exp_avg', 'exp_avg_sq'] as const;

  constructor(groups: ParamGroup[] | Variable[], options: AdamWOptions = {}) {
    super(groups, options.lr ?? 1e-3);
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
  }

  protected update(slot: Slot, grad: Tensor, lr: number): void {
    const [b1, b2] = this.betas;
    const wd = slot.group.weightDecay ?? this.weightDecay;
    const m = this.buffer(slot, 'exp_avg');
    const v = this.buffer(slot, 'exp_avg_sq');
    const t = slot.step;
    // float64 here; each rounds to float32 where it is used, alike on both paths below
    const s: AdamWScalars = {
      beta1: b1,
      oneMinusBeta1: 1 - b1,
      beta2: b2,
      oneMinusBeta2: 1 - b2,
      biasCorrection2: Math.sqrt(1 - b2 ** t),
      eps: this.eps,
      decay: wd !== 0 ? 1 - lr * wd : undefined,
      stepSize: lr / (1 - b1 ** t),
    };
    // On wasm one SIMD pass per parameter (optim/fused-update.ts), bit-identical to the composite
    // below, which every other backend runs.
    const fused = fusedAdamW(slot.param, grad, m, v, s);
    if (fused) {
      const [p1, m1, v1] = fused;
      m.assign(m1);
      v.assign(v1);
      slot.param.assign(p1);
      return;
    }
    const m1 = tf.add(tf.mul(m, s.beta1), tf.mul(grad, s.oneMinusBeta1));
    const v1 = tf.add(tf.mul(v, s.beta2), tf.mul(tf.square(grad), s.oneMinusBeta2));
    const denom = tf.add(tf.div(tf.sqrt(v1), s.biasCorrection2), s.eps);
    const decayed = s.decay !== undefined ? tf.mul(slot.param, s.decay) : slot.param;
    m.assign(m1);
    v.assign(v1);
    slot.param.assign(tf.sub(decayed, tf.mul(tf.div(m1, denom), s.stepSize)));
  }
}

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  /** Coupled (L2) weight decay added to the gradient, as torch.optim.SGD. */
  weightDecay?: number;
}

/**
 * SGD exactly as torch.optim.SGD: d = g + wd*p; buf = d on the first step, then
 * buf = momentum*buf + (1-dampening)*d; d = nesterov ? d + momentum*buf : buf; p -= lr*d.
 */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  protected readonly bufferNames = ['momentum_buffer'] as const;

  constructor(groups: ParamGroup[] | Variable[], options: SGDOptions) {
    super(groups, options.lr);
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new Error('SGD: nesterov momentum requires momentum > 0 and dampening 0');
    }
  }

  protected update(slot: Slot, grad: Tensor, lr: number): void {
    const wd = slot.group.weightDecay ?? this.weightDecay;
    const s: SGDScalars = {
      weightDecay: wd !== 0 ? wd : undefined,
      momentum: this.momentum !== 0 ? this.momentum : undefined,
      oneMinusDampening: 1 - this.dampening,
      nesterov: this.nesterov,
      lr,
    };
    const first = !slot.buffers.has('momentum_buffer');
    // On wasm one SIMD pass per parameter (optim/fused-update.ts), bit-identical to the composite
    // below, which every other backend runs.
    const fused = fusedSGD(slot.param, grad, first ? undefined : slot.buffers.get('momentum_buffer'), s);
    if (fused) {
      if (fused.buf) this.buffer(slot, 'momentum_buffer').assign(fused.buf);
      slot.param.assign(fused.param);
      return;
    }
    let d = s.weightDecay !== undefined ? tf.add(grad, tf.mul(slot.param, s.weightDecay)) : grad;
    if (s.momentum !== undefined) {
      const buf = this.buffer(slot, 'momentum_buffer');
      const next = first ? d : tf.add(tf.mul(buf, s.momentum), tf.mul(d, s.oneMinusDampening));
      buf.assign(next);
      d = s.nesterov ? tf.add(d, tf.mul(next, s.momentum)) : next;
    }
    slot.param.assign(tf.sub(slot.param, tf.mul(d, s.lr)));
  }
}

/**
 * Scales gradients so that their global L2 norm is at most maxNorm (torch.nn.utils.clip_grad_norm_:
 * factor min(1, maxNorm / (norm + 1e-6))). Returns new tensors (the caller disposes both maps) and
 * the norm before clipping. Reading the norm waits for the device once (`await data()`).
 */
export async function clipGradNorm(grads: NamedTensorMap, maxNorm: number, knownNorm?: number): Promise<{ grads: NamedTensorMap; norm: number }> {
  const names = Object.keys(grads);
  if (names.length === 0) return { grads: {}, norm: 0 };
  let norm = knownNorm;
  if (norm === undefined) {
    const normT = tf.tidy(() => tf.sqrt(addN(names.map((n) => tf.sum(tf.square(grads[n]!))))));
    norm = (await normT.data())[0]!;
    normT.dispose();
  }
  const factor = Math.min(1, maxNorm / (norm + 1e-6));
  const out: NamedTensorMap = {};
  for (const n of names) out[n] = tf.tidy(() => tf.mul(grads[n]!, factor));
  return { grads: out, norm };
}
