import { shardIndexFor } from '../../worker/gateway/shard-picker';

/**
 * Client ids `<prefix><n>` that land on the given shards of `shardCount`, in
 * order, by the gateway's own hash: one id per entry, found by trying
 * n = 0, 1, 2, ... so the ids are the same on every run.
 */
export function idsOnShards(prefix: string, shards: number[], shardCount: number): string[] {
  const taken = new Set<string>();
  return shards.map((shard) => {
    for (let n = 0; ; n++) {
      const id = `${prefix}${n}`;
      if (!taken.has(id) && shardIndexFor(id, shardCount) === shard) {
        taken.add(id);
        return id;
      }
    }
  });
}

/** The first client id `<prefix><n>` that lands on `shard`. */
export function idOnShard(prefix: string, shard: number, shardCount: number): string {
  return idsOnShards(prefix, [shard], shardCount)[0];
}
