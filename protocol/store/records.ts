/**
 * Shapes the engine persists. They are plain data (no classes) so any store
 * (Durable Object SQLite, in-memory for unit tests) can hold them.
 */
export type QoS = 0 | 1 | 2;
export type ProtocolVersion = 3 | 4 | 5;

/** MQTT 5 properties that travel with an application message. */
export interface MessageProperties {
  payloadFormatIndicator?: boolean;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Uint8Array;
  userProperties?: Record<string, string | string[]>;
}

/** An application message as the broker holds it after accepting a PUBLISH. */
export interface BrokerMessage {
  topic: string;
  payload: Uint8Array;
  /** QoS the publisher used; each delivery is downgraded to the granted QoS. */
  qos: QoS;
  retain: boolean;
  properties: MessageProperties;
  /** Epoch ms after which it must not be delivered (Message Expiry Interval); null = never. */
  expiresAt: number | null;
  /** Client id of the publisher, for No Local; null for broker-made messages ($SYS, wills keep theirs). */
  origin: string | null;
  createdAt: number;
}

/** One message on its way to one subscriber. */
export interface Delivery {
  message: BrokerMessage;
  qos: QoS;
  /** RETAIN flag as it must appear on the wire (Retain As Published / retained-on-subscribe). */
  retain: boolean;
  subscriptionIds: number[];
}

/**
 * What one queued delivery counts against its session's byte bound
 * (MQTT_MAX_QUEUED_BYTES): the topic's characters plus the payload's bytes.
 * Every store records this number with the row, so the bound survives
 * eviction exactly as it was counted.
 */
export function queuedSize(delivery: Delivery): number {
  return delivery.message.topic.length + delivery.message.payload.byteLength;
}

export interface WillRecord {
  message: BrokerMessage;
  delaySeconds: number;
  /** Message Expiry Interval of the will, applied from the moment it is published. */
  expirySeconds: number | null;
}

/** Session expiry value meaning "never expires" in MQTT 5. */
export const SESSION_NEVER_EXPIRES = 0xffffffff;

export interface SessionRecord {
  clientId: string;
  protocolVersion: ProtocolVersion;
  /** Seconds the session outlives its network connection. 0 = ends with it. */
  expiryInterval: number;
  /** Epoch ms when the last connection ended; null while connected. */
  disconnectedAt: number | null;
  will: WillRecord | null;
  /** Epoch ms at which a pending (delayed) will is published; null when none is pending. */
  willDueAt: number | null;
  droppedMessages: number;
  username: string | null;
  createdAt: number;
}

export interface SubscriptionRecord {
  clientId: string;
  /** The filter exactly as subscribed, including any `$share/<group>/` prefix. */
  filter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId: number | null;
  createdAt: number;
}

export interface OutboundRecord {
  clientId: string;
  packetId: number;
  /** 'publish': awaiting PUBACK/PUBREC. 'pubrel': PUBREC received, PUBREL sent, awaiting PUBCOMP. */
  state: 'publish' | 'pubrel';
  delivery: Delivery;
  /** Insertion order, so redelivery on reconnect keeps the original order [MQTT-4.6.0-1]. */
  seq: number;
}

export interface QueuedRecord {
  clientId: string;
  seq: number;
  delivery: Delivery;
}

/** Broker-wide counters that must survive hibernation ($SYS, admin stats). */
export interface BrokerCounters {
  startedAt: number;
  messagesReceived: number;
  messagesSent: number;
  bytesReceived: number;
  bytesSent: number;
  publishReceived: number;
  publishSent: number;
  messagesDropped: number;
  connectionsTotal: number;
  authFailures: number;
  /**
   * Billed Durable Object events, counted by the shard's platform adapter:
   * WebSocket messages received (each a 1/20 request) and sent, WebSocket
   * upgrades (one request each) and alarm invocations (one request each).
   */
  webSocketMessagesIn: number;
  webSocketMessagesOut: number;
  /** Calls from other shards (batches, retained look-ups): each is a Durable Object request. */
  clusterCallsIn: number;
  /** Entries sent to other shards (messages, route changes). */
  clusterEntriesOut: number;
  upgrades: number;
  alarms: number;
}
