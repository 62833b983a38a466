import type { ClusterEntry } from './messages';

export interface OutboxEntry {
  seq: number;
  entry: ClusterEntry;
}

/**
 * Durable cluster state of one shard, synchronous like the SessionStore (and
 * in the same storage, so a PUBLISH's outbox entries and its QoS 2 receipt
 * commit together before its PUBREC leaves).
 */
export interface ClusterStore {
  /** The replicated route table: which other shards have subscriptions with which filters. */
  loadRoutes(): Array<{ shard: number; key: string }>;
  addRoute(shard: number, key: string): void;
  removeRoute(shard: number, key: string): void;

  /** Appends to link `dest` (a shard index, or a lane's key); returns its sequence number (1, 2, ... per link, never reused). */
  appendOutbox(dest: number, entry: ClusterEntry): number;
  /** Oldest first: entries after `afterSeq`, at most `limit`. */
  peekOutbox(dest: number, afterSeq: number, limit: number): OutboxEntry[];
  /** The receiver confirmed everything through `seq`. */
  deleteOutboxThrough(dest: number, seq: number): void;
  /** Every link this shard ever appended to: the last sequence number appended, and the oldest still unconfirmed (null when none). */
  loadLinks(): Array<{ dest: number; lastAppended: number; oldestUnconfirmed: number | null }>;

  /** The last sequence number applied from shard `origin` (0 when none): older ones are duplicates. */
  lastApplied(origin: number): number;
  setLastApplied(origin: number, seq: number): void;
}
