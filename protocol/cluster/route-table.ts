import { SubscriptionIndex } from '../topics/subscription-index';

/** Shards with a matching subscription, for one topic. */
export interface RemoteMatches {
  /** Shards with a matching non-shared subscription. */
  direct: number[];
  /** Per shared group (`$share/<group>/<filter>`), the shards that have members of it. */
  groups: Map<string, number[]>;
}

const NONE: RemoteMatches = { direct: [], groups: new Map() };

/**
 * The replicated route table (EMQX's model): for every other shard, the
 * filters its sessions subscribe to. A publish is forwarded only to shards
 * with a matching filter, never broadcast. It is the same trie the shard uses
 * for its own subscriptions, keyed by shard instead of client id.
 */
export class RouteTable {
  private readonly index = new SubscriptionIndex<number>();

  add(shard: number, key: string): void {
    this.index.add(String(shard), key, shard);
  }

  remove(shard: number, key: string): void {
    this.index.remove(String(shard), key);
  }

  get size(): number {
    return this.index.size;
  }

  match(topic: string): RemoteMatches {
    if (this.index.size === 0) return NONE;
    const found = this.index.match(topic);
    if (found.direct.length === 0 && found.shared.length === 0) return NONE;
    const direct = [...new Set(found.direct.map((d) => d.value))];
    const groups = new Map<string, number[]>();
    for (const g of found.shared) groups.set(g.filter, g.members.map((m) => m.value));
    return { direct, groups };
  }
}
