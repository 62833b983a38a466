import type { SharedIpCounter } from '../auth/failure-tracker';
import type { BlockEntry } from '../auth/blocklist';
import type { Clock } from '../protocol/ports';
import type { ShardEnv } from '../worker/vars';
import { sharedIpCounter } from './ban-counter';
import { ClusterPeers } from './cluster-peers';
import { ShardClusterFigures } from './shard-cluster-figures';
import { ShardIdentityStore } from './shard-identity';

/**
 * What one shard knows of, and shares with, the rest of the cluster: its own
 * place, the other shards, their $SYS figures, and the per-IP failure counts
 * of the automatic bans. BrokerShard wires these into the engine and the
 * security chain; with one shard each of them is a no-op.
 */
export class ShardCluster {
  readonly identity: ShardIdentityStore;
  readonly peers: ClusterPeers;
  /** The engine's ClusterFigures port. */
  readonly figures: ShardClusterFigures;

  constructor(
    private readonly env: ShardEnv,
    name: string | undefined,
    clock: Clock,
    sysIntervalMs: () => number,
  ) {
    this.identity = new ShardIdentityStore(name, env.BROKER_SHARDS);
    this.peers = new ClusterPeers(env, this.identity);
    this.figures = new ShardClusterFigures(this.identity, (i) => this.peers.shard(i), clock, sysIntervalMs);
  }

  /** One shard counts an IP's failing identities exactly by itself; several share the count. */
  sharedIpCounter(): SharedIpCounter | null {
    return this.peers.count > 1 ? sharedIpCounter(this.env.BAN_COUNTER) : null;
  }

  /** A ban this shard made, in force on every other shard at once. */
  async spreadBan(entry: BlockEntry): Promise<void> {
    await Promise.all(this.peers.others().map((peer) => peer.applyBan(entry)));
  }
}
