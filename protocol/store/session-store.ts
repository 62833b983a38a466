import type {
  BrokerCounters,
  BrokerMessage,
  Delivery,
  OutboundRecord,
  QueuedRecord,
  SessionRecord,
  SubscriptionRecord,
} from './records';

/**
 * Durable state of one broker shard. Every method is synchronous on purpose:
 * Durable Object SQLite is synchronous, so the engine can handle a packet
 * start-to-finish without awaiting, which keeps per-session packet order
 * without locks. A write returns before the acknowledgement it guards is sent,
 * and the platform's output gate holds that send until the write is durable.
 *
 * Sessions and subscriptions are stored for every session (so they survive
 * hibernation while the socket stays open); queues, in-flight and QoS 2
 * receive state are stored for sessions that outlive their connection, and
 * for those that do not once their subscriber leaves messages unacknowledged
 * long enough for the shard to hibernate (Session.spilled).
 */
export interface SessionStore {
  loadSessions(): SessionRecord[];
  saveSession(session: SessionRecord): void;
  /** Removes the session and everything it owns: subscriptions, queue, in-flight, QoS 2 state. */
  deleteSession(clientId: string): void;
  /** Removes the client's queue, in-flight and QoS 2 receive state, keeping its session and subscriptions (a spilled session back in memory). */
  deleteDeliveryState(clientId: string): void;

  loadSubscriptions(): SubscriptionRecord[];
  saveSubscription(sub: SubscriptionRecord): void;
  deleteSubscription(clientId: string, filter: string): void;

  /** Oldest first. */
  loadOutbound(clientId: string): OutboundRecord[];
  saveOutbound(record: OutboundRecord): void;
  deleteOutbound(clientId: string, packetId: number): void;

  /** Appends; returns the record's sequence number. */
  enqueue(clientId: string, delivery: Delivery): number;
  /** Oldest first, at most `limit`. */
  peekQueue(clientId: string, limit: number): QueuedRecord[];
  deleteQueued(clientId: string, seq: number): void;
  queueLength(clientId: string): number;
  /** Sum of queuedSize() over the client's queue. */
  queueBytes(clientId: string): number;

  loadInboundQos2(clientId: string): number[];
  saveInboundQos2(clientId: string, packetId: number): void;
  deleteInboundQos2(clientId: string, packetId: number): void;

  loadRetained(): BrokerMessage[];
  putRetained(message: BrokerMessage): void;
  deleteRetained(topic: string): void;

  /** Client-to-server topic aliases of a live connection (MQTT 5), so they survive hibernation. */
  loadTopicAliases(connectionId: string): Map<number, string>;
  saveTopicAlias(connectionId: string, alias: number, topic: string): void;
  deleteTopicAliases(connectionId: string): void;
  /** Forgets the aliases of every connection not in `connectionIds`: those whose socket did not survive a restart. */
  keepTopicAliasesOf(connectionIds: { has(connectionId: string): boolean }): void;

  loadCounters(): BrokerCounters | null;
  saveCounters(counters: BrokerCounters): void;
}
