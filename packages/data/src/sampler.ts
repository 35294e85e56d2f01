import { deriveSeed, Rng } from '@partialnet/core/random';

export interface SamplerOptions {
  batchSize: number;
  /** Shuffle every epoch from (seed, epoch). Default false. */
  shuffle?: boolean;
  seed?: number;
  /** Drop incomplete batches. Default false. */
  dropLast?: boolean;
  /**
   * Group id per sample (e.g. `aspectRatioGroups`): every batch holds one group only, as
   * detectron2's AspectRatioGroupedDataset and mmdet's GroupSampler do.
   */
  groups?: ArrayLike<number>;
  /** This process's rank and the number of processes: each gets every worldSize-th batch. */
  rank?: number;
  worldSize?: number;
}

/** 1 for landscape (w > h), 0 otherwise; mmdet's aspect-ratio flag. Unknown sizes count as 1. */
export function aspectRatioGroups(records: readonly { width?: number; height?: number }[]): Uint8Array {
  return Uint8Array.from(records, (r) => (r.width === undefined || r.height === undefined || r.width > r.height ? 1 : 0));
}

/**
 * The batches (lists of dataset indices) of one epoch, for one rank. Deterministic in
 * (length, options, epoch). With several ranks, the batch list is padded by repeating its start so
 * every rank gets the same number of batches (as torch's DistributedSampler), then dealt round robin.
 */
export function epochBatches(length: number, o: SamplerOptions, epoch = 0): number[][] {
  const bs = o.batchSize;
  if (!(bs >= 1 && Number.isInteger(bs))) throw new Error(`batchSize must be a positive integer, got ${bs}`);
  const world = o.worldSize ?? 1;
  const rank = o.rank ?? 0;
  if (!(world >= 1 && Number.isInteger(world) && rank >= 0 && rank < world && Number.isInteger(rank))) {
    throw new Error(`bad rank/worldSize ${rank}/${world}`);
  }
  const order = Array.from({ length }, (_, i) => i);
  const rng = new Rng(deriveSeed(o.seed ?? 0, epoch));
  if (o.shuffle) rng.shuffle(order);
  let batches: number[][] = [];
  if (o.groups) {
    if (o.groups.length !== length) throw new Error(`groups has ${o.groups.length} entries for ${length} samples`);
    const open = new Map<number, number[]>();
    for (const i of order) {
      const g = o.groups[i]!;
      let b = open.get(g);
      if (!b) open.set(g, (b = []));
      b.push(i);
      if (b.length === bs) {
        batches.push(b);
        open.set(g, []);
      }
    }
    if (!o.dropLast) for (const g of [...open.keys()].sort((a, b) => a - b)) if (open.get(g)!.length) batches.push(open.get(g)!);
  } else {
    for (let i = 0; i < order.length; i += bs) {
      const b = order.slice(i, i + bs);
      if (b.length === bs || !o.dropLast) batches.push(b);
    }
  }
  if (world > 1 && batches.length > 0) {
    const total = Math.ceil(batches.length / world) * world;
    const padded = batches.slice();
    for (let i = 0; padded.length < total; i++) padded.push(batches[i % batches.length]!);
    batches = padded.filter((_, i) => i % world === rank);
  }
  return batches;
}
