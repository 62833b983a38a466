import { parseShardCount } from '../worker/gateway/shard-count';

/** A shard's place in the cluster: it is shard `index` of `count`. */
export interface ShardIdentity {
  index: number;
  count: number;
}

/**
 * What a shard knows of its own place in the cluster: its index from the name
 * the Worker addressed it by (`shard-<n>`, worker/gateway/shard-picker.ts),
 * which the runtime gives the object as `ctx.id.name` in every event, alarms
 * included; the count from `BROKER_SHARDS`, which every shard and the Worker
 * read alike. Nothing is stored: a shard that wakes knows its place at once.
 */
export class ShardIdentityStore {
  private readonly known: ShardIdentity;

  constructor(name: string | undefined, shardsVar: string | undefined) {
    this.known = { index: shardIndexOf(name), count: parseShardCount(shardsVar) };
  }

  current(): ShardIdentity {
    return this.known;
  }

  /** Kept for callers written for a place that may be unknown; it is always known. */
  currentOrSingle(): ShardIdentity {
    return this.known;
  }
}

/** `shard-<n>` is shard n; any other name (an object made outside the router) is the single shard. */
export function shardIndexOf(name: string | undefined): number {
  const match = /^shard-(\d+)$/.exec(name ?? '');
  return match ? Number(match[1]) : 0;
}
