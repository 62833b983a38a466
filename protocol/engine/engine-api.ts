import type { Packet } from 'mqtt-packet';
import type { BrokerConfig } from '../config';
import type { Authenticator, Authorizer, BrokerEvents, Clock, Transport } from '../ports';
import type { SessionStore } from '../store/session-store';
import type { BrokerCounters, BrokerMessage, Delivery, SubscriptionRecord } from '../store/records';
import type { RetainedIndex } from '../topics/retained-index';
import type { SubscriptionIndex } from '../topics/subscription-index';
import type { Connection, EndCause } from './connection';
import type { Session } from './session';
import type { AckHolder } from './owed-ack';
import type { ClusterNode } from '../cluster/cluster-node';

/**
 * What routing one message did: how many sessions (or other shards) it went
 * to, and what the publisher's ack must wait for: recipients that are behind,
 * and batches on their way to other shards.
 */
export interface Routed {
  deliveries: number;
  behind: AckHolder[];
}

/** The $SYS topics as the handlers see them: told when clients or subscriptions change, asked for current values. */
export interface SysTopicsApi {
  clientsChanged(): void;
  subscriptionsChanged(): void;
  sendCurrent(conn: Connection, session: Session, sub: SubscriptionRecord, now: number): void;
}

/**
 * What the packet handlers, flow control and $SYS topics use of the engine.
 * BrokerEngine implements it; depending on this instead of the class keeps
 * the engine free to import them without an import cycle.
 */
export interface EngineApi {
  readonly config: BrokerConfig;
  readonly store: SessionStore;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;
  readonly events: BrokerEvents;
  readonly connections: Map<string, Connection>;
  readonly sessions: Map<string, Session>;
  readonly subscriptions: SubscriptionIndex<SubscriptionRecord>;
  readonly retained: RetainedIndex<BrokerMessage>;
  readonly sys: SysTopicsApi;
  readonly cluster: ClusterNode;
  readonly counters: BrokerCounters;
  /** Denied PUBLISHes per connection, for aclDenialsBeforeDisconnect. */
  readonly aclDenials: WeakMap<Connection, number>;

  send(conn: Connection, packet: Packet): void;
  disconnect(conn: Connection, reasonCode: number, reason: string, cause?: EndCause): void;
  closeConnection(conn: Connection, cause: EndCause, code: number, reason: string): void;
  scheduleWake(at: number): void;
  connectionOf(session: Session): Connection | undefined;
  sessionLostConnection(session: Session, cause: EndCause, now: number): void;
  endSession(session: Session, now: number): void;
  acceptMessage(message: BrokerMessage, now: number): Routed;
  route(message: BrokerMessage, now: number): Routed;
  deliver(session: Session, delivery: Delivery, now: number): boolean;
  ensureLoaded(session: Session): void;
  drainQueue(conn: Connection, session: Session, now: number): void;
  resumeInflight(conn: Connection, session: Session, now: number): void;
  sendRetained(conn: Connection, session: Session, sub: SubscriptionRecord, now: number): Promise<void> | void;
  addSubscription(record: SubscriptionRecord): boolean;
  removeSubscription(clientId: string, filter: string): boolean;
}
