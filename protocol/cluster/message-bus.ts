import type { BrokerMessage } from '../store/records';
import type { ClusterBatch, ClusterReceipt } from './messages';

/**
 * The one way shards reach each other. Implemented by the Durable Object with
 * RPC to the other shard (durable-objects/cluster/rpc-message-bus.ts) and in
 * memory for tests. Both calls may fail (the other shard restarting, a
 * deploy): the caller retries, and receivers drop what they already applied.
 */
export interface MessageBus {
  /** Applies a batch on shard `batch.to`; resolves once it is durable there, and its recipients are not behind. */
  deliver(batch: ClusterBatch): Promise<ClusterReceipt>;
  /** Retained messages whose home is shard `to` and that match any of `filters`. */
  retained(to: number, filters: string[]): Promise<BrokerMessage[]>;
}
