import type { BlockEntry } from '../auth/blocklist';
import type { ShardFigures } from '../protocol/engine/cluster-figures';
import type { ClusterPeer } from './cluster/rpc-message-bus';

/**
 * What one shard calls on another (BrokerShard implements it): delivery
 * between shards, $SYS figures and bans. Shards see each other through this
 * interface, not the class, so the class and its parts do not import each
 * other in a circle.
 */
export interface ShardPeer extends ClusterPeer {
  /** The shard's own $SYS figures, for the other shards' $SYS/broker/... totals. */
  sysFigures(): ShardFigures;
  /** Another shard made an automatic ban: enforce it now. */
  applyBan(entry: BlockEntry): void;
}
