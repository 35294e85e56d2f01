import { Module } from '../module/module.js';

/** Children named by their index, like torch.nn.Sequential / ModuleList (`stages.0`, `blocks.3`). */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];

  constructor(items: Iterable<M> = []) {
    super();
    for (const item of items) this.push(item);
  }

  push(item: M): M {
    this.addChild(String(this.items.length), item);
    this.items.push(item);
    return item;
  }

  /** Registers `item` under an explicit index, leaving gaps where torch has parameter-free layers. */
  set(index: number, item: M): M {
    this.addChild(String(index), item);
    this.items.push(item);
    return item;
  }

  get length(): number {
    return this.items.length;
  }
}
