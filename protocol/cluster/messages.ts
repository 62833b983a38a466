import type { BrokerMessage } from '../store/records';

/**
 * What one shard tells another. Every entry travels on the ordered, durable
 * link between the two shards (cluster-node.ts), so a route change is always
 * seen before the messages published after it, and each entry is applied
 * exactly once.
 */
export type ClusterEntry = ForwardedPublish | RouteChange;

/** A message accepted on the sending shard, for the receiving shard's own subscribers. */
export interface ForwardedPublish {
  kind: 'publish';
  message: BrokerMessage;
  /** Deliver to the receiving shard's non-shared subscriptions that match. */
  direct: boolean;
  /** Shared groups (`$share/<group>/<filter>`) the sender chose this shard to serve: one member each. */
  groups: string[];
  /** The receiving shard is the topic's retained home: store (or, if empty, delete) it there. */
  retain: boolean;
  /** Every shard in passedOverByGroup, for shards running older code, which read only this. */
  passedOver: number[];
  /**
   * Per group, the shards that had no member of it that could take the
   * message; it is not offered that group again. Per group, because a shard
   * passed over for one group may have a member of another waiting. Absent
   * in entries written by older code: passedOver then stands for every group.
   */
  passedOverByGroup?: Record<string, number[]>;
}

/** The sending shard gained its first, or lost its last, subscription with this filter (shared ones keep their `$share/` prefix). */
export interface RouteChange {
  kind: 'route';
  key: string;
  add: boolean;
}

/**
 * Entries of one link, oldest first. A durable entry has a sequence number
 * (1, 2, ... per link) and is applied once whatever the retries; a QoS 0
 * message travels without one, is never stored and never resent (at most once).
 */
export interface ClusterBatch {
  from: number;
  to: number;
  /** Route changes and messages travel on separate lanes, each in order (cluster-node.ts). */
  lane: 'messages' | 'routes';
  entries: Array<{ seq: number | null; entry: ClusterEntry }>;
}

/** The receiver has applied (durably) every entry up to and including this sequence number. */
export interface ClusterReceipt {
  appliedThrough: number;
  /**
   * QoS 1/2 entries of this batch whose recipients on the receiving shard are
   * behind: their publishers' acks wait until the receiver says they are
   * released (MessageBus.released), as a local recipient that is behind
   * holds a local publisher's ack. Absent when none are.
   */
  held?: number[];
}

/** Which of a receiving shard's subscriptions a forwarded message is for. */
export interface DeliveryScope {
  direct: boolean;
  groups: readonly string[];
  passedOver: readonly number[];
  passedOverByGroup?: Readonly<Record<string, readonly number[]>>;
}

/** The shards a forwarded message's group `key` was already offered to, without a member there that could take it. */
export function passedOverFor(scope: DeliveryScope, key: string): readonly number[] {
  const byGroup = scope.passedOverByGroup;
  return byGroup && Object.hasOwn(byGroup, key) ? byGroup[key] : scope.passedOver;
}
