import type { ShardEnv } from '../worker/vars';
import { parseShardCount } from '../worker/gateway/shard-count';
import { shardIdOf } from '../worker/gateway/shard-picker';
import type { ShardPeer } from './shard-peer';
import type { ShardIdentityStore } from './shard-identity';

/**
 * The other shards of the cluster, as one shard reaches them: by the same
 * names the edge uses (`shard-<i>`), and as many as BROKER_SHARDS says.
 */
export class ClusterPeers {
  readonly count: number;

  constructor(
    private readonly env: ShardEnv,
    private readonly identity: ShardIdentityStore,
  ) {
    let count = 1;
    try {
      count = parseShardCount(env.BROKER_SHARDS);
    } catch {
      // The edge refuses every connection with a bad BROKER_SHARDS, so no shard has clients to share anything for.
    }
    this.count = count;
  }

  shard(index: number): DurableObjectStub<ShardPeer> {
    return this.env.BROKER.get(shardIdOf(this.env.BROKER, index));
  }

  /** Every shard but this one (shard-identity.ts). */
  others(): Array<DurableObjectStub<ShardPeer>> {
    if (this.count === 1) return [];
    const own = this.identity.current().index;
    return Array.from({ length: this.count }, (_, i) => i)
      .filter((i) => i !== own)
      .map((i) => this.shard(i));
  }
}
