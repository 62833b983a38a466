import type { BrokerMessage } from '../store/records';
import type { ClusterBatch, ClusterReceipt } from './messages';

/**
 * The one way shards reach each other. Implemented by the Durable Object with
 * RPC to the other shard (durable-objects/cluster/rpc-message-bus.ts) and in
 * memory for tests. Both calls may fail (the other shard restarting, a
 * deploy): the caller retries, and receivers drop what they already applied.
 */
export interface MessageBus {
  /** Applies a batch on shard `batch.to`; resolves once it is durable there, naming the entries whose recipients are behind. */
  deliver(batch: ClusterBatch): Promise<ClusterReceipt>;
  /** Tells shard `to` that shard `from` no longer holds these entries `to` sent it: their publishers' acks may leave. */
  released(to: number, from: number, seqs: number[]): Promise<void>;
  /** Asks shard `to` which of these entries from shard `from` it still holds (a restarted shard holds none). */
  stillHeld(to: number, from: number, seqs: number[]): Promise<number[]>;
  /** Retained messages whose home is shard `to` and that match any of `filters`. */
  retained(to: number, filters: string[]): Promise<BrokerMessage[]>;
}
