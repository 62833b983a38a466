import type { Packet } from 'mqtt-packet';
import type { BrokerConfig } from '../config';
import type { Authenticator, Authorizer, BrokerEvents, Clock, Transport } from '../ports';
import type { SessionStore } from '../store/session-store';
import type { BrokerMessage, OutboundRecord, SessionRecord, SubscriptionRecord } from '../store/records';
import type { Connection, EndCause } from './connection';
import type { Session } from './session';
import type { ClusterNode } from '../cluster/cluster-node';
import type { Routed } from '../routing/router';

export type { Routed } from '../routing/router';

/** What a shard's engine is built from: its settings and the ports to the platform. */
export interface BrokerEngineDeps {
  config: BrokerConfig;
  store: SessionStore;
  transport: Transport;
  clock: Clock;
  authenticator: Authenticator;
  authorizer: Authorizer;
  events?: BrokerEvents;
  /**
   * Called whenever a session's row is written, so the host stores what
   * belongs with it in the same event (the shard: the identity its ACLs are
   * judged by, durable-objects/principal-store.ts).
   */
  sessionStored?: (clientId: string) => void;
  /** This shard's place in the cluster; a single shard when absent. */
  cluster?: ClusterNode;
}

/** The $SYS topics as the handlers see them: told when clients or subscriptions change, asked for current values. */
export interface SysTopicsApi {
  clientsChanged(): void;
  subscriptionsChanged(): void;
  sendCurrent(conn: Connection, session: Session, sub: SubscriptionRecord, now: number): void;
}

/**
 * What the packet handlers and flow control use of the engine: the settings
 * and security ports it was built with, and named operations. They change
 * the engine's state only through these, never through its maps or store.
 * BrokerEngine implements it; depending on this instead of the class keeps
 * the engine free to import them without an import cycle.
 */
export interface EngineApi extends Readonly<Required<Pick<BrokerEngineDeps, 'config' | 'clock' | 'authenticator' | 'authorizer' | 'events'>>> {
  readonly sys: SysTopicsApi;

  // connections
  send(conn: Connection, packet: Packet): void;
  disconnect(conn: Connection, reasonCode: number, reason: string, cause?: EndCause): void;
  closeConnection(conn: Connection, cause: EndCause, code: number, reason: string): void;
  findConnection(connectionId: string): Connection | undefined;
  connectionOf(session: Session): Connection | undefined;
  saveSnapshot(conn: Connection, now: number): void;
  saveTopicAlias(conn: Connection, alias: number, topic: string): void;
  scheduleWake(at: number): void;

  // sessions
  findSession(clientId: string): Session | undefined;
  startSession(record: SessionRecord): Session;
  saveOpenedSession(session: Session, wasPersistent: boolean): void;
  /** Writes an open session's record after a change to it alone (its username, at re-authentication). */
  saveSession(session: Session): void;
  sessionLostConnection(session: Session, cause: EndCause, now: number): void;
  endSession(session: Session, now: number): void;

  // counters
  countAuthFailure(): void;
  countConnection(): void;
  countPublishReceived(): void;
  countAclDenial(conn: Connection): number;

  // routing and delivery
  /**
   * Retains and routes a message. `asReceived`: the PUBLISH as it arrived,
   * when it is byte for byte what a 3.1/3.1.1 subscriber receives live at QoS 0
   * (isPublish311Qos0AsEncoded), sent to those subscribers as it is.
   */
  acceptMessage(message: BrokerMessage, now: number, asReceived?: Uint8Array): Routed;
  ensureLoaded(session: Session): void;
  resumeInflight(conn: Connection, session: Session, now: number): void;
  awaitPubcomp(session: Session, record: OutboundRecord): void;
  completeOutbound(conn: Connection, session: Session, packetId: number): void;
  recordInboundQos2(session: Session, packetId: number): void;
  forgetInboundQos2(session: Session, packetId: number): boolean;
  /**
   * Withheld acknowledgements were sent to this connection. With PUBRECs
   * among them, its client may release those flows from now on; with PUBACKs
   * only, its QoS 2 flows already acknowledged are due to spill as before.
   */
  acknowledgementsSent(conn: Connection, pubrecs: boolean): void;

  // subscriptions
  findSubscription(clientId: string, filter: string): SubscriptionRecord | undefined;
  subscriptionCount(clientId: string): number;
  addSubscription(record: SubscriptionRecord): boolean;
  removeSubscription(clientId: string, filter: string): boolean;
  /** Resolves once every other shard knows this shard's new routes; null when there is nothing to wait for. */
  whenRoutesConfirmed(): Promise<void> | null;
  sendRetained(conn: Connection, session: Session, sub: SubscriptionRecord, now: number): Promise<void> | void;
}
