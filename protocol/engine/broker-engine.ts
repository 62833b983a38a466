import { Buffer } from 'node:buffer';
import type { Packet, IPublishPacket } from 'mqtt-packet';
import { decodePacket } from '../codec/decode';
import { encodePacket } from '../codec/encode';
import { FrameError } from '../codec/framer';
import type { BrokerConfig } from '../config';
import type { Authenticator, Authorizer, BrokerEvents, Clock, ConnectionSnapshot, Transport, TrustedContext } from '../ports';
import { RC } from '../reason-codes';
import type { SessionStore } from '../store/session-store';
import { queuedSize, type BrokerCounters, type BrokerMessage, type Delivery, type OutboundRecord, type QoS, type SubscriptionRecord } from '../store/records';
import { SubscriptionIndex } from '../topics/subscription-index';
import { RetainedIndex } from '../topics/retained-index';
import { isWildcardFilter, parseSharedFilter } from '../topics/validate';
import { Connection, type EndCause } from './connection';
import { Session } from './session';
import { forgetOwedAcks, holdReceipt, releaseHeldAcks } from './flow-control';
import type { AckHolder } from './owed-ack';
import { ClusterNode, type ClusterApplier } from '../cluster/cluster-node';
import type { DeliveryScope, ForwardedPublish } from '../cluster/messages';
import { SysTopics } from './sys-topics';
import type { EngineApi, Routed } from './engine-api';
import { handleConnect, handleConnectAuth } from '../handlers/connect';
import { handlePublish, handlePubrel } from '../handlers/publish';
import { handlePuback, handlePubrec, handlePubcomp } from '../handlers/acks';
import { handleSubscribe } from '../handlers/subscribe';
import { handleUnsubscribe } from '../handlers/unsubscribe';
import { handleDisconnect } from '../handlers/disconnect';

export interface BrokerEngineDeps {
  config: BrokerConfig;
  store: SessionStore;
  transport: Transport;
  clock: Clock;
  authenticator: Authenticator;
  authorizer: Authorizer;
  events?: BrokerEvents;
  /** This shard's place in the cluster; a single shard when absent. */
  cluster?: ClusterNode;
}

/** How often counters are written back while traffic flows, so hibernation loses at most this much. */
const COUNTER_FLUSH_MS = 10_000;

export type { Routed } from './engine-api';
const NOWHERE: Routed = { deliveries: 0, behind: [] };
const NO_HOLDERS: readonly AckHolder[] = [];

/** A shard that is the whole broker: nothing to store or send for other shards. */
function singleShard(clock: Clock): ClusterNode {
  const unused = () => {
    throw new Error('a single shard has no other shards');
  };
  return new ClusterNode({
    self: 0,
    shardCount: 1,
    clock,
    bus: { deliver: unused, released: unused, stillHeld: unused, retained: unused },
    store: {
      loadRoutes: () => [],
      addRoute: unused,
      removeRoute: unused,
      appendOutbox: unused,
      peekOutbox: () => [],
      deleteOutboxThrough: unused,
      loadLinks: () => [],
      lastApplied: () => 0,
      setLastApplied: unused,
    },
  });
}

/**
 * The MQTT broker for one shard, free of platform calls. Every packet is
 * handled synchronously against a synchronous store, except CONNECT's
 * authentication; while that runs, the connection's later packets wait in
 * order (Connection.pending), so each session sees its packets in order.
 */
export class BrokerEngine implements EngineApi, ClusterApplier {
  readonly config: BrokerConfig;
  readonly store: SessionStore;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;
  readonly events: BrokerEvents;
  readonly cluster: ClusterNode;

  readonly connections = new Map<string, Connection>();
  readonly sessions = new Map<string, Session>();
  readonly subscriptions = new SubscriptionIndex<SubscriptionRecord>();
  readonly retained = new RetainedIndex<BrokerMessage>();
  readonly sys: SysTopics;
  counters: BrokerCounters;
  private countersSavedAt = 0;
  private sharedCursor = new Map<string, number>();
  /** Denied PUBLISHes per connection, for aclDenialsBeforeDisconnect. */
  readonly aclDenials = new WeakMap<Connection, number>();
  /** Earliest known deadline; may be early (then onTimer recomputes), never late. */
  private wakeAt: number | null = null;
  /** The last PUBLISH encoded that every subscriber of that protocol can be sent as is. */
  private lastSharedPublish: { message: BrokerMessage; key: string; bytes: Uint8Array } | null = null;

  constructor(deps: BrokerEngineDeps) {
    this.config = deps.config;
    this.store = deps.store;
    this.transport = deps.transport;
    this.clock = deps.clock;
    this.authenticator = deps.authenticator;
    this.authorizer = deps.authorizer;
    this.events = deps.events ?? {};
    this.cluster = deps.cluster ?? singleShard(deps.clock);
    this.cluster.attach(this);
    const now = this.clock.now();
    // Counters added later start at 0 on a shard that saved an older set.
    this.counters = {
      startedAt: now,
      messagesReceived: 0,
      messagesSent: 0,
      bytesReceived: 0,
      bytesSent: 0,
      publishReceived: 0,
      publishSent: 0,
      messagesDropped: 0,
      connectionsTotal: 0,
      authFailures: 0,
      webSocketMessagesIn: 0,
      webSocketMessagesOut: 0,
      clusterCallsIn: 0,
      clusterEntriesOut: 0,
      upgrades: 0,
      alarms: 0,
      ...this.store.loadCounters(),
    };
    this.sys = new SysTopics(this);
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Rebuilds memory after the object woke or restarted: sessions,
   * subscriptions and retained messages from the store; live connections from
   * their socket snapshots. Sessions whose socket did not survive (eviction,
   * restart) lost their network connection while we were away.
   */
  restore(snapshots: ConnectionSnapshot[]): void {
    const now = this.clock.now();
    for (const record of this.store.loadSessions()) this.sessions.set(record.clientId, new Session(record));
    for (const sub of this.store.loadSubscriptions()) {
      if (this.sessions.has(sub.clientId)) {
        this.subscriptions.add(sub.clientId, sub.filter, sub);
        this.cluster.localSubscriptionRestored(sub.filter);
      } else {
        this.store.deleteSubscription(sub.clientId, sub.filter);
      }
    }
    this.cluster.restore();
    for (const message of this.store.loadRetained()) this.retained.set(message.topic, message);

    for (const snapshot of snapshots) {
      const conn = Connection.fromSnapshot(snapshot, this.config.maxPacketSize);
      this.connections.set(conn.id, conn);
      if (conn.state === 'connected' && conn.clientId) {
        const session = this.sessions.get(conn.clientId);
        if (session && (session.connectionId === null || session.connectionId === conn.id) && session.record.disconnectedAt === null) {
          session.connectionId = conn.id;
          if (conn.clientTopicAliasMaximum >= 0) conn.inboundTopicAliases = this.store.loadTopicAliases(conn.id);
        } else {
          // The session ended while the socket slept (expired, taken over): nothing to resume.
          conn.state = 'closed';
          this.connections.delete(conn.id);
          this.transport.close(conn.id, 1000, 'session no longer exists');
        }
      }
    }
    for (const session of [...this.sessions.values()]) {
      if (session.connectionId !== null) continue;
      if (session.record.disconnectedAt === null) {
        // It was connected when the previous instance went away.
        this.sessionLostConnection(session, 'network', now);
      } else if (!session.persistent) {
        this.endSession(session, now);
      }
    }
    this.sys.restore();
    this.recomputeWake();
  }

  openConnection(connectionId: string, trusted: TrustedContext): void {
    const now = this.clock.now();
    const conn = new Connection(connectionId, trusted, now, this.config.maxPacketSize);
    this.connections.set(connectionId, conn);
    this.transport.saveConnectionSnapshot(connectionId, conn.snapshot());
    conn.lastSnapshotAt = now;
    this.scheduleWake(now + this.config.connectTimeoutMs);
  }

  /** Bytes from the socket. Returns a promise only while an asynchronous step is running. */
  receive(connectionId: string, bytes: Uint8Array): Promise<void> | void {
    const conn = this.connections.get(connectionId);
    if (!conn || conn.state === 'closed') return;
    this.counters.bytesReceived += bytes.byteLength;
    let packets: Uint8Array[];
    try {
      packets = conn.framer.push(bytes);
    } catch (err) {
      if (err instanceof FrameError) {
        const frameError = err as FrameError;
        this.disconnect(conn, frameError.kind === 'packet-too-large' ? RC.PACKET_TOO_LARGE : RC.MALFORMED_PACKET, frameError.message);
      } else {
        this.internalError(conn, err);
      }
      return;
    }
    if (packets.length === 0) return;
    if (conn.busy) {
      this.hold(conn, packets);
      return conn.busy;
    }
    return this.processPackets(conn, packets);
  }

  /**
   * Keeps packets that arrived while an asynchronous step runs, up to
   * maxPendingBytes: a client that floods while its CONNECT is being
   * authenticated is cut off (0x97) instead of growing the shard's memory.
   */
  private hold(conn: Connection, packets: Uint8Array[]): void {
    for (const p of packets) conn.pendingBytes += p.byteLength;
    if (conn.pendingBytes > this.config.maxPendingBytes) {
      conn.pending = [];
      conn.pendingBytes = 0;
      this.disconnect(conn, RC.QUOTA_EXCEEDED, `more than ${this.config.maxPendingBytes} bytes sent before CONNACK`);
      return;
    }
    conn.pending.push(...packets);
  }

  /** A text frame or similar transport-level violation (caught here, or by the edge gateway and reported). */
  protocolViolation(connectionId: string, what: string, reasonCode: number = RC.MALFORMED_PACKET): void {
    const conn = this.connections.get(connectionId);
    if (!conn || conn.state === 'closed') return;
    this.disconnect(conn, reasonCode, what);
  }

  /**
   * The edge gateway saw no packet within 1.5 x the keepalive: the same end as
   * the shard's own keepalive timer (will published, 5.0 DISCONNECT 0x8D).
   */
  keepaliveExpired(connectionId: string): void {
    const conn = this.connections.get(connectionId);
    if (!conn || conn.state !== 'connected') return;
    this.disconnect(conn, RC.KEEP_ALIVE_TIMEOUT, 'keepalive timeout', 'keepalive');
  }

  /** The socket closed or errored. */
  connectionLost(connectionId: string): void {
    const conn = this.connections.get(connectionId);
    if (!conn) return;
    this.endConnection(conn, conn.endCause ?? 'network');
  }

  /** Runs every due timer. Called from the single Durable Object alarm. */
  onTimer(): void {
    const now = this.clock.now();
    for (const conn of [...this.connections.values()]) {
      if (conn.state === 'awaiting-connect' || conn.state === 'authenticating') {
        if (now >= conn.openedAt + this.config.connectTimeoutMs) {
          // No CONNECT in time: close without CONNACK [MQTT-3.1.4-1 spirit; mosquitto does the same].
          this.closeConnection(conn, 'network', 1002, 'no CONNECT received in time');
        }
        continue;
      }
      const deadline = conn.keepaliveDeadline();
      if (deadline !== null && now >= deadline) {
        this.disconnect(conn, RC.KEEP_ALIVE_TIMEOUT, 'keepalive timeout', 'keepalive');
      }
    }
    for (const session of [...this.sessions.values()]) {
      if (session.record.willDueAt !== null && session.record.willDueAt <= now) {
        this.publishWill(session, now);
      }
      const expiresAt = session.expiresAt();
      if (expiresAt !== null && expiresAt <= now) this.endSession(session, now);
      else if (session.heldAcks.size > 0) this.settleHeldAcks(session, now);
    }
    this.sys.onTimer(now);
    this.cluster.pump();
    this.flushCounters(now, true);
    this.recomputeWake();
  }

  nextWakeAt(): number | null {
    const retry = this.cluster.nextWakeAt();
    if (retry === null) return this.wakeAt;
    return this.wakeAt === null ? retry : Math.min(this.wakeAt, retry);
  }

  scheduleWake(at: number): void {
    if (this.wakeAt === null || at < this.wakeAt) this.wakeAt = at;
  }

  private recomputeWake(): void {
    let next: number | null = null;
    const consider = (t: number | null) => {
      if (t !== null && (next === null || t < next)) next = t;
    };
    for (const conn of this.connections.values()) {
      if (conn.state === 'awaiting-connect' || conn.state === 'authenticating') consider(conn.openedAt + this.config.connectTimeoutMs);
      else consider(conn.keepaliveDeadline());
    }
    for (const session of this.sessions.values()) {
      consider(session.record.willDueAt);
      consider(session.expiresAt());
      if (session.heldAcks.size > 0) consider(session.lastProgressAt + this.config.stuckSubscriberMs);
    }
    consider(this.sys.nextDueAt());
    this.wakeAt = next;
  }

  // ---------------------------------------------------------------- packet loop

  private processPackets(conn: Connection, packets: Uint8Array[]): Promise<void> | void {
    for (let i = 0; i < packets.length; i++) {
      if (conn.state === 'closed') return;
      const result = this.handleRaw(conn, packets[i]);
      if (result) {
        this.hold(conn, packets.slice(i + 1));
        conn.busy = result
          .catch((err) => this.internalError(conn, err))
          .then(() => {
            conn.busy = null;
            const rest = conn.pending;
            conn.pending = [];
            conn.pendingBytes = 0;
            if (rest.length > 0 && conn.state !== 'closed') return this.processPackets(conn, rest) ?? undefined;
          });
        return conn.busy;
      }
    }
  }

  private handleRaw(conn: Connection, raw: Uint8Array): Promise<void> | void {
    const now = this.clock.now();
    conn.lastActivityAt = now;
    this.counters.messagesReceived++;
    const decoded = decodePacket(raw, conn.state === 'awaiting-connect' ? null : conn.protocolVersion);
    if (!decoded.ok) {
      if (conn.state === 'awaiting-connect') {
        this.refuseUndecodableConnect(conn, decoded);
        return;
      }
      this.disconnect(conn, decoded.reasonCode, decoded.message);
      return;
    }
    try {
      const result = this.dispatch(conn, decoded.packet, now);
      if (result) return result;
    } catch (err) {
      this.internalError(conn, err);
      return;
    }
    if (conn.state === 'connected' && conn.keepaliveSeconds > 0 && !conn.trusted.keepaliveAtEdge && now - conn.lastSnapshotAt > conn.keepaliveSeconds * 250) {
      // Throttled: a woken object must not think a chatty client went quiet.
      conn.lastSnapshotAt = now;
      this.transport.saveConnectionSnapshot(conn.id, conn.snapshot());
    }
    this.flushCounters(now, false);
  }

  private dispatch(conn: Connection, packet: Packet, now: number): Promise<void> | void {
    if (conn.state === 'awaiting-connect') {
      if (packet.cmd !== 'connect') {
        // The first packet must be CONNECT [MQTT-3.1.0-1].
        this.closeConnection(conn, 'protocol-error', 1002, 'first packet was not CONNECT');
        return;
      }
      return handleConnect(this, conn, packet, now);
    }
    if (conn.state === 'authenticating') {
      // Only reachable during an enhanced authentication exchange: AUTH is the one packet allowed [MQTT-4.12.0-1].
      if (packet.cmd === 'auth') return handleConnectAuth(this, conn, packet);
      this.disconnect(conn, RC.PROTOCOL_ERROR, `${packet.cmd} before CONNACK`);
      return;
    }
    const session = this.sessionOf(conn);
    if (!session) {
      this.closeConnection(conn, 'protocol-error', 1011, 'session missing');
      return;
    }
    switch (packet.cmd) {
      case 'publish':
        return handlePublish(this, conn, session, packet, now);
      case 'puback':
        return handlePuback(this, conn, session, packet);
      case 'pubrec':
        return handlePubrec(this, conn, session, packet);
      case 'pubrel':
        return handlePubrel(this, conn, session, packet);
      case 'pubcomp':
        return handlePubcomp(this, conn, session, packet);
      case 'subscribe':
        return handleSubscribe(this, conn, session, packet, now);
      case 'unsubscribe':
        return handleUnsubscribe(this, conn, session, packet);
      case 'pingreq':
        this.send(conn, { cmd: 'pingresp' });
        return;
      case 'disconnect':
        return handleDisconnect(this, conn, session, packet);
      case 'connect':
        // A second CONNECT is a protocol error [MQTT-3.1.0-2].
        this.disconnect(conn, RC.PROTOCOL_ERROR, 'second CONNECT');
        return;
      case 'auth':
        this.disconnect(conn, RC.PROTOCOL_ERROR, 'AUTH without an authentication method');
        return;
      default:
        // Server-to-client packet types sent by a client.
        this.disconnect(conn, RC.PROTOCOL_ERROR, `unexpected ${packet.cmd} from client`);
    }
  }

  private refuseUndecodableConnect(conn: Connection, decoded: { reasonCode: number; message: string; connectProtocolVersion?: number }): void {
    if (decoded.reasonCode === RC.UNSUPPORTED_PROTOCOL_VERSION) {
      // Answer in a form the client can read [MQTT-3.1.2-2]: 3.1.1 return code 1, or 0x84 for 5.0.
      const v = decoded.connectProtocolVersion === 5 ? 5 : 4;
      conn.protocolVersion = v;
      this.send(conn, v === 5 ? { cmd: 'connack', sessionPresent: false, reasonCode: RC.UNSUPPORTED_PROTOCOL_VERSION } : { cmd: 'connack', sessionPresent: false, returnCode: 1 });
    } else if (decoded.connectProtocolVersion === 5 && decoded.reasonCode >= 0x80) {
      // 5.0 lets the server say why before closing [MQTT-4.13.1-1]; a device developer
      // then sees "Receive Maximum of 0" instead of a silent close. 3.1.1 has no code for it.
      conn.protocolVersion = 5;
      this.send(conn, { cmd: 'connack', sessionPresent: false, reasonCode: decoded.reasonCode, properties: { reasonString: decoded.message.slice(0, 200) } });
    }
    this.closeConnection(conn, 'protocol-error', 1002, decoded.message);
  }

  private internalError(conn: Connection, err: unknown): void {
    console.error('edgemq: error while handling a packet', err);
    if (conn.state !== 'closed') this.disconnect(conn, RC.IMPLEMENTATION_SPECIFIC_ERROR, 'internal error');
  }

  // ---------------------------------------------------------------- sending

  sessionOf(conn: Connection): Session | undefined {
    if (!conn.clientId) return undefined;
    const session = this.sessions.get(conn.clientId);
    return session && session.connectionId === conn.id ? session : undefined;
  }

  connectionOf(session: Session): Connection | undefined {
    if (!session.connectionId) return undefined;
    const conn = this.connections.get(session.connectionId);
    return conn && conn.state === 'connected' ? conn : undefined;
  }

  encode(conn: Connection, packet: Packet): Uint8Array {
    return encodePacket(packet, conn.protocolVersion ?? 4);
  }

  send(conn: Connection, packet: Packet): void {
    if (conn.state === 'closed') return;
    this.sendBytes(conn, this.encode(conn, packet));
  }

  sendBytes(conn: Connection, bytes: Uint8Array): void {
    this.counters.messagesSent++;
    this.counters.bytesSent += bytes.byteLength;
    this.transport.send(conn.id, bytes);
  }

  /**
   * Ends a connection because of something the client did (or did not do).
   * MQTT 5 clients get a DISCONNECT with the reason first [MQTT-4.13.1-1];
   * 3.1.1 has no server DISCONNECT, so the connection is just closed.
   */
  disconnect(conn: Connection, reasonCode: number, reason: string, cause: EndCause = 'protocol-error'): void {
    if (conn.state === 'closed') return;
    if (conn.protocolVersion === 5 && conn.state === 'connected') {
      const properties = conn.requestProblemInformation ? { reasonString: reason.slice(0, 200) } : undefined;
      this.send(conn, { cmd: 'disconnect', reasonCode, properties });
    } else if (conn.protocolVersion === 5 && conn.state !== 'connected' && reasonCode >= 0x80) {
      // Before CONNACK the reason travels in a CONNACK [MQTT-4.13.1-1].
      this.send(conn, { cmd: 'connack', sessionPresent: false, reasonCode });
    }
    this.closeConnection(conn, cause, 1000, reason);
  }

  closeConnection(conn: Connection, cause: EndCause, code: number, reason: string): void {
    if (conn.state === 'closed') return;
    this.endConnection(conn, cause);
    this.transport.close(conn.id, code, reason);
  }

  /** Bookkeeping when a connection ends, however it ended. */
  endConnection(conn: Connection, cause: EndCause): void {
    if (conn.state === 'closed') {
      this.connections.delete(conn.id);
      return;
    }
    const wasConnected = conn.state === 'connected';
    conn.state = 'closed';
    this.connections.delete(conn.id);
    forgetOwedAcks(conn);
    if (conn.inboundTopicAliases.size > 0) this.store.deleteTopicAliases(conn.id);
    if (!wasConnected || !conn.clientId) return;
    const session = this.sessions.get(conn.clientId);
    if (!session || session.connectionId !== conn.id) return;
    this.events.clientDisconnected?.({ clientId: conn.clientId, reason: cause });
    this.sessionLostConnection(session, cause, this.clock.now());
  }

  /** The session's connection is gone: decide its will and its lifetime. */
  sessionLostConnection(session: Session, cause: EndCause, now: number): void {
    session.connectionId = null;
    // Gone is not behind: publishers waiting for it go on (its queue, if it has one, keeps the messages).
    releaseHeldAcks(this, session);
    this.sys.clientsChanged();
    session.record.disconnectedAt = now;
    const will = session.record.will;
    if (will) {
      // A normal DISCONNECT discards the will [MQTT-3.1.2-10]; 0x04 asks for it.
      if (cause === 'client-disconnect') {
        session.record.will = null;
      } else if (will.delaySeconds === 0) {
        session.record.willDueAt = now;
      } else {
        session.record.willDueAt = now + will.delaySeconds * 1000;
      }
    }
    if (session.record.willDueAt !== null && session.record.willDueAt <= now) this.publishWill(session, now);
    if (!session.persistent) {
      this.endSession(session, now);
      return;
    }
    this.store.saveSession(session.record);
    if (session.record.willDueAt !== null) this.scheduleWake(session.record.willDueAt);
    const expiresAt = session.expiresAt();
    if (expiresAt !== null) this.scheduleWake(expiresAt);
  }

  /** The session ends: a still-pending will goes out now [MQTT-3.1.3-9], then everything it owned is removed. */
  endSession(session: Session, now: number): void {
    if (session.record.will && session.record.willDueAt !== null) this.publishWill(session, now);
    releaseHeldAcks(this, session);
    this.sessions.delete(session.clientId);
    for (const { filter } of this.subscriptions.forClient(session.clientId)) this.cluster.localSubscriptionRemoved(filter);
    this.subscriptions.removeClient(session.clientId);
    this.store.deleteSession(session.clientId);
    this.sys.subscriptionsChanged();
  }

  publishWill(session: Session, now: number): void {
    const will = session.record.will;
    session.record.will = null;
    session.record.willDueAt = null;
    if (this.sessions.get(session.clientId) === session && session.persistent) this.store.saveSession(session.record);
    if (!will) return;
    const message: BrokerMessage = {
      ...will.message,
      createdAt: now,
      expiresAt: will.expirySeconds !== null ? now + will.expirySeconds * 1000 : null,
    };
    // Checked again now: the rules may have changed since CONNECT, and $SYS is the broker's alone.
    if (message.topic.startsWith('$SYS')) return;
    if (!this.authorizer.canPublish({ clientId: session.clientId, username: session.record.username }, message.topic)) return;
    this.acceptMessage(message, now);
  }

  // ---------------------------------------------------------------- routing

  /**
   * A message the broker took responsibility for: retain it if asked (here,
   * or on the topic's retained home shard), then route it to every shard with
   * a matching subscription.
   */
  acceptMessage(message: BrokerMessage, now: number): Routed {
    let retainHome: number | null = null;
    if (message.retain) {
      const home = this.cluster.homeOf(message.topic);
      if (home === this.cluster.self) this.storeRetained(message);
      else retainHome = home;
    }
    return this.route(message, now, null, retainHome);
  }

  // ---------------------------------------------------------------- subscriptions

  /** Adds or replaces a session's subscription [MQTT-3.8.4-3]; true when it is new. The first one with a filter is announced to the other shards. */
  addSubscription(record: SubscriptionRecord): boolean {
    const isNew = !this.subscriptions.get(record.clientId, record.filter);
    this.subscriptions.add(record.clientId, record.filter, record);
    this.store.saveSubscription(record);
    if (isNew) this.cluster.localSubscriptionAdded(record.filter);
    return isNew;
  }

  /** Removes a session's subscription; false when it had none with that filter. */
  removeSubscription(clientId: string, filter: string): boolean {
    if (!this.subscriptions.remove(clientId, filter)) return false;
    this.store.deleteSubscription(clientId, filter);
    this.cluster.localSubscriptionRemoved(filter);
    return true;
  }

  // ---------------------------------------------------------------- other shards

  /** Another shard's message for subscribers here (and, as its retained home, for the retained store). */
  applyForwarded(entry: ForwardedPublish, now: number): readonly AckHolder[] {
    if (entry.retain) this.storeRetained(entry.message);
    if (!entry.direct && entry.groups.length === 0) return NO_HOLDERS;
    return this.route(entry.message, now, entry).behind;
  }

  holdReceipt(behind: readonly AckHolder[]): Promise<void> {
    return holdReceipt(this, behind);
  }

  countSent(entries: number): void {
    this.counters.clusterEntriesOut += entries;
  }

  countDropped(): void {
    this.counters.messagesDropped++;
  }

  released(holder: AckHolder): void {
    releaseHeldAcks(this, holder);
  }

  /**
   * Retained messages that live on other shards (each topic's home), for a
   * new subscription here. Null when there is nothing to ask: one shard, or
   * a filter without wildcards whose home is this shard.
   */
  remoteRetained(filter: string): Promise<BrokerMessage[]> | null {
    if (!this.cluster.clustered) return null;
    const homes = isWildcardFilter(filter)
      ? Array.from({ length: this.cluster.shardCount }, (_, i) => i).filter((i) => i !== this.cluster.self)
      : [this.cluster.homeOf(filter)].filter((i) => i !== this.cluster.self);
    if (homes.length === 0) return null;
    return Promise.all(homes.map((home) => this.cluster.retainedFrom(home, [filter]))).then((pages) => pages.flat());
  }

  /** Retained messages stored here that match any of these filters (another shard's remoteRetained). */
  retainedMatching(filters: string[], now: number): BrokerMessage[] {
    const out: BrokerMessage[] = [];
    const seen = new Set<string>();
    for (const filter of filters) {
      for (const { value: message } of this.retained.match(filter)) {
        if (seen.has(message.topic)) continue;
        seen.add(message.topic);
        if (message.expiresAt !== null && message.expiresAt <= now) continue;
        out.push(message);
      }
    }
    return out;
  }

  storeRetained(message: BrokerMessage): void {
    // An empty retained payload deletes the retained message [MQTT-3.3.1-6].
    if (message.payload.byteLength === 0) {
      if (this.retained.delete(message.topic)) this.store.deleteRetained(message.topic);
      return;
    }
    if (!this.retained.get(message.topic) && this.retained.size >= this.config.maxRetainedMessages) {
      this.counters.messagesDropped++;
      return;
    }
    this.retained.set(message.topic, message);
    this.store.putRetained(message);
  }

  /**
   * Delivers to this shard's matching subscribers and forwards to the other
   * shards that have some. A message from another shard (`scope`) is only
   * delivered here: to direct subscriptions if asked, and to the shared
   * groups that shard chose this one to serve.
   */
  route(message: BrokerMessage, now: number, scope: DeliveryScope | null = null, retainHome: number | null = null): Routed {
    const matches = this.subscriptions.match(message.topic);
    let plan = scope ? null : this.cluster.plan(message.topic, retainHome);
    // One delivery per client: overlapping subscriptions merge into the highest
    // QoS with every subscription identifier [MQTT-3.3.4-2], [MQTT-3.3.4-3].
    let perClient: Map<string, Delivery> | null = null;
    const add = (sub: SubscriptionRecord) => {
      if (sub.noLocal && message.origin === sub.clientId) return; // [MQTT-3.8.3-3]
      const qos = Math.min(sub.qos, message.qos) as QoS;
      perClient ??= new Map();
      const existing = perClient.get(sub.clientId);
      if (existing) {
        if (qos > existing.qos) existing.qos = qos;
        if (sub.retainAsPublished && message.retain) existing.retain = true;
        if (sub.subscriptionId !== null) existing.subscriptionIds.push(sub.subscriptionId);
        return;
      }
      perClient.set(sub.clientId, {
        message,
        qos,
        // Retain As Published keeps the flag; otherwise it is cleared on forward [MQTT-3.3.1-12], [MQTT-3.3.1-13].
        retain: sub.retainAsPublished ? message.retain : false,
        subscriptionIds: sub.subscriptionId !== null ? [sub.subscriptionId] : [],
      });
    };
    if (!scope || scope.direct) for (const m of matches.direct) add(m.value);
    if (matches.shared.length > 0 || (plan && plan.remoteGroups.size > 0) || (scope && scope.groups.length > 0)) {
      const here = new Map(matches.shared.map((g) => [g.filter, g]));
      const serveHere = (key: string) => () => {
        const group = here.get(key);
        const member = group ? this.pickSharedMember(key, group.members.map((m) => m.value), message.topic) : null;
        if (member) add(member);
        return member !== null;
      };
      if (scope) {
        for (const key of scope.groups) {
          if (serveHere(key)()) continue;
          // No member here may take it (ACLs, or it left): another shard with members gets it.
          plan ??= this.cluster.planOnward(message.topic, [...scope.passedOver, this.cluster.self]);
          this.cluster.serveGroup(plan, key, false, serveHere(key));
        }
      } else {
        const keys = new Set([...here.keys(), ...(plan?.remoteGroups.keys() ?? [])]);
        for (const key of keys) this.cluster.serveGroup(plan, key, here.has(key), serveHere(key));
      }
    }
    const remote = plan && plan.remote.size > 0 ? plan : null;
    if (!perClient && !remote) return NOWHERE;
    const routed: Routed = { deliveries: 0, behind: [] };
    if (remote) {
      // Another shard's subscribers count as deliveries (no 0x10 No matching subscribers); their shards' receipts hold the ack.
      for (const hold of this.cluster.forward(message, remote)) routed.behind.push(hold);
      for (const p of remote.remote.values()) if (p.direct || p.groups.length > 0) routed.deliveries++;
    }
    if (!perClient) return routed;
    for (const [clientId, delivery] of perClient as Map<string, Delivery>) {
      const session = this.sessions.get(clientId);
      if (!session) continue;
      if (!this.authorizer.canReceive({ clientId, username: session.record.username }, message.topic)) continue;
      if (this.deliver(session, delivery, now)) routed.behind.push(session);
      routed.deliveries++;
    }
    return routed;
  }

  /**
   * Round-robin over connected members; a persistent member queues when none
   * is connected. Members the ACLs do not let receive this topic are passed
   * over, so the message goes to one that may have it.
   */
  private pickSharedMember(groupKey: string, members: SubscriptionRecord[], topic: string): SubscriptionRecord | null {
    if (members.length === 0) return null;
    const start = this.sharedCursor.get(groupKey) ?? 0;
    for (let i = 0; i < members.length; i++) {
      const idx = (start + i) % members.length;
      const session = this.sessions.get(members[idx].clientId);
      if (session && this.connectionOf(session) && this.mayReceive(session, topic)) {
        this.sharedCursor.set(groupKey, idx + 1);
        return members[idx];
      }
    }
    for (let i = 0; i < members.length; i++) {
      const idx = (start + i) % members.length;
      const session = this.sessions.get(members[idx].clientId);
      if (session?.persistent && this.mayReceive(session, topic)) {
        this.sharedCursor.set(groupKey, idx + 1);
        return members[idx];
      }
    }
    return null;
  }

  private mayReceive(session: Session, topic: string): boolean {
    return this.authorizer.canReceive({ clientId: session.clientId, username: session.record.username }, topic);
  }

  /**
   * Hands one message to one session: send now, or queue (bounded), or drop.
   * Returns true when the session is connected, healthy and behind, so the
   * publisher's acknowledgement should wait for it (see flow-control.ts).
   */
  deliver(session: Session, delivery: Delivery, now: number): boolean {
    const conn = this.connectionOf(session);
    if (delivery.qos === 0) {
      // QoS 0 is not queued for offline sessions (mosquitto's queue_qos0_messages=false),
      // and is dropped, counted, for one that is behind or stuck: QoS 0 is where overload sheds load.
      if (!conn) return false;
      if (session.loaded && this.windowFull(session, conn) && (this.isStuck(session, conn, now) || this.isBehind(session, conn))) {
        this.countDrop(session);
        return false;
      }
      this.sendPublish(conn, session, delivery, null, false, now);
      return false;
    }
    this.ensureLoaded(session);
    if (conn && session.queueLength() === 0 && session.outbound.size < this.outboundWindow(conn)) {
      this.startOutbound(conn, session, delivery, now);
      return false;
    }
    if (!conn && !session.persistent) return false;
    this.enqueue(session, delivery);
    if (conn && this.isBehind(session, conn) && !this.isStuck(session, conn, now)) return true;
    this.settleHeldAcks(session, now);
    return false;
  }

  private outboundWindow(conn: Connection): number {
    // Receive Maximum: never more unacknowledged QoS 1/2 PUBLISHes than the client allows [MQTT-3.3.4-9].
    return Math.min(conn.clientReceiveMaximum, this.config.maxInflightOut);
  }

  private windowFull(session: Session, conn: Connection): boolean {
    return session.outbound.size >= this.outboundWindow(conn);
  }

  /**
   * Behind: the window is full and more than a small backlog is queued
   * (one window's worth, at most a quarter of the queue bound). Publishers'
   * acks then wait, so the backlog stays within the publishers' windows.
   */
  isBehind(session: Session, conn: Connection): boolean {
    const window = this.outboundWindow(conn);
    return session.outbound.size >= window && session.queueLength() > Math.min(window, Math.floor(this.config.maxQueuedMessages / 4));
  }

  /**
   * Stuck, decided from progress rather than speed: the window is full and
   * nothing was acknowledged for stuckSubscriberMs, or the queue reached a
   * bound. A stuck session holds no publisher back; its own queue takes what
   * fits and the rest is dropped and counted for it.
   */
  isStuck(session: Session, conn: Connection, now: number): boolean {
    if (!this.windowFull(session, conn)) return false;
    return now - session.lastProgressAt >= this.config.stuckSubscriberMs || this.queueFull(session);
  }

  private queueFull(session: Session): boolean {
    return session.queueLength() >= this.config.maxQueuedMessages || session.queuedBytes >= this.config.maxQueuedBytes;
  }

  /** Releases the acks a session holds once it is no longer a healthy recipient that is behind. */
  settleHeldAcks(session: Session, now: number): void {
    if (session.heldAcks.size === 0) return;
    const conn = this.connectionOf(session);
    if (conn && this.isBehind(session, conn) && !this.isStuck(session, conn, now)) return;
    releaseHeldAcks(this, session);
  }

  private countDrop(session: Session): void {
    session.record.droppedMessages++;
    this.counters.messagesDropped++;
    if (session.persistent) this.store.saveSession(session.record);
  }

  /** Queues within both bounds (count and bytes); past them the message is dropped and counted for this session. */
  private enqueue(session: Session, delivery: Delivery): boolean {
    const size = queuedSize(delivery);
    if (session.queueLength() >= this.config.maxQueuedMessages || session.queuedBytes + size > this.config.maxQueuedBytes) {
      this.countDrop(session);
      return false;
    }
    if (session.persistent) {
      this.store.enqueue(session.clientId, delivery);
      session.storedQueueLength++;
    } else {
      session.memoryQueue.push(delivery);
    }
    session.queuedBytes += size;
    return true;
  }

  private startOutbound(conn: Connection, session: Session, delivery: Delivery, now: number): boolean {
    if (delivery.message.expiresAt !== null && delivery.message.expiresAt <= now) return false;
    const packetId = session.allocatePacketId();
    if (packetId === null) return false;
    // The window just opened: the time to "stuck" counts from here, not from an old acknowledgement.
    if (session.outbound.size === 0) session.lastProgressAt = now;
    const record: OutboundRecord = { clientId: session.clientId, packetId, state: 'publish', delivery, seq: session.nextSeq() };
    const sent = this.sendPublish(conn, session, delivery, packetId, false, now);
    if (!sent) return false;
    session.outbound.set(packetId, record);
    if (session.persistent) this.store.saveOutbound(record);
    return true;
  }

  /** Encodes and sends a PUBLISH. Returns false when it was dropped (expired, or larger than the client accepts). */
  sendPublish(conn: Connection, session: Session, delivery: Delivery, packetId: number | null, dup: boolean, now: number): boolean {
    const { message } = delivery;
    let expiry: number | undefined;
    if (message.expiresAt !== null) {
      const remainingMs = message.expiresAt - now;
      if (remainingMs <= 0) return false;
      // The forwarded interval is what is left of it [MQTT-3.3.2-6].
      expiry = Math.max(1, Math.ceil(remainingMs / 1000));
    }
    const bytes = this.encodePublish(conn, delivery, packetId, dup, expiry);
    if (conn.clientMaxPacketSize > 0 && bytes.byteLength > conn.clientMaxPacketSize) {
      // Too large for this client: discard as if sent [MQTT-3.1.2-25].
      session.record.droppedMessages++;
      this.counters.messagesDropped++;
      return false;
    }
    this.counters.publishSent++;
    this.sendBytes(conn, bytes);
    return true;
  }

  /**
   * A PUBLISH without a packet identifier or subscription identifiers is the
   * same bytes for every subscriber on the same protocol (3.1 and 3.1.1 share
   * one layout), so a fan-out encodes it once.
   */
  private encodePublish(conn: Connection, delivery: Delivery, packetId: number | null, dup: boolean, expiry: number | undefined): Uint8Array {
    const shareable = packetId === null && delivery.subscriptionIds.length === 0;
    const key = shareable ? `${conn.protocolVersion === 5 ? 5 : 4}|${delivery.qos}|${delivery.retain}|${dup}|${expiry}` : '';
    const cached = this.lastSharedPublish;
    if (shareable && cached !== null && cached.message === delivery.message && cached.key === key) return cached.bytes;
    const { message } = delivery;
    const packet: IPublishPacket = {
      cmd: 'publish',
      topic: message.topic,
      payload: Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.byteLength),
      qos: delivery.qos,
      retain: delivery.retain,
      dup,
    };
    if (packetId !== null) packet.messageId = packetId;
    if (conn.protocolVersion === 5) {
      const p = message.properties;
      const properties: NonNullable<IPublishPacket['properties']> = {};
      if (p.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = p.payloadFormatIndicator;
      if (expiry !== undefined) properties.messageExpiryInterval = expiry;
      if (p.contentType !== undefined) properties.contentType = p.contentType;
      if (p.responseTopic !== undefined) properties.responseTopic = p.responseTopic;
      if (p.correlationData !== undefined) properties.correlationData = Buffer.from(p.correlationData);
      if (p.userProperties !== undefined) properties.userProperties = p.userProperties;
      if (delivery.subscriptionIds.length === 1) properties.subscriptionIdentifier = delivery.subscriptionIds[0];
      else if (delivery.subscriptionIds.length > 1) properties.subscriptionIdentifier = delivery.subscriptionIds;
      if (Object.keys(properties).length > 0) packet.properties = properties;
    }
    const bytes = this.encode(conn, packet);
    if (shareable) this.lastSharedPublish = { message, key, bytes };
    return bytes;
  }

  /** Loads a persistent session's in-flight state and queue size from the store once. */
  ensureLoaded(session: Session): void {
    if (session.loaded) return;
    session.loaded = true;
    if (!session.persistent) return;
    session.adoptOutbound(this.store.loadOutbound(session.clientId));
    for (const id of this.store.loadInboundQos2(session.clientId)) session.inboundQos2.add(id);
    session.storedQueueLength = this.store.queueLength(session.clientId);
    session.queuedBytes = this.store.queueBytes(session.clientId);
    session.lastProgressAt = this.clock.now();
  }

  /**
   * Moves queued messages into flight while the client's window has room,
   * oldest first; then publishers waiting for this session may go on.
   */
  drainQueue(conn: Connection, session: Session, now: number): void {
    const window = this.outboundWindow(conn);
    if (session.persistent) {
      while (session.storedQueueLength > 0 && session.outbound.size < window) {
        const batch = this.store.peekQueue(session.clientId, Math.max(1, window - session.outbound.size));
        if (batch.length === 0) {
          session.storedQueueLength = 0;
          session.queuedBytes = 0;
          break;
        }
        for (const queued of batch) {
          this.store.deleteQueued(session.clientId, queued.seq);
          session.storedQueueLength--;
          session.queuedBytes -= queuedSize(queued.delivery);
          if (queued.delivery.qos === 0) this.sendPublish(conn, session, queued.delivery, null, false, now);
          else this.startOutbound(conn, session, queued.delivery, now);
          if (session.outbound.size >= window) break;
        }
      }
    } else {
      while (session.memoryQueue.length > 0 && session.outbound.size < window) {
        const delivery = session.memoryQueue.shift()!;
        session.queuedBytes -= queuedSize(delivery);
        this.startOutbound(conn, session, delivery, now);
      }
    }
    this.settleHeldAcks(session, now);
  }

  /** On session resume: resend unacknowledged PUBLISH (DUP) and PUBREL in their original order [MQTT-4.4.0-1]. */
  resumeInflight(conn: Connection, session: Session, now: number): void {
    this.ensureLoaded(session);
    session.lastProgressAt = now;
    const records = [...session.outbound.values()].sort((a, b) => a.seq - b.seq);
    for (const record of records) {
      if (record.state === 'pubrel') {
        this.send(conn, { cmd: 'pubrel', messageId: record.packetId });
      } else if (!this.sendPublish(conn, session, record.delivery, record.packetId, true, now)) {
        session.outbound.delete(record.packetId);
        if (session.persistent) this.store.deleteOutbound(session.clientId, record.packetId);
      }
    }
    this.drainQueue(conn, session, now);
  }

  /**
   * Retained messages for a new subscription; RETAIN is always set on these
   * [MQTT-3.3.1-9]. Those stored here go at once; those whose home is another
   * shard follow when it answers (the returned promise).
   */
  sendRetained(conn: Connection, session: Session, sub: SubscriptionRecord, now: number): Promise<void> | void {
    const shared = parseSharedFilter(sub.filter);
    if (shared) return; // Not sent for shared subscriptions (spec 4.8.2): they serve a group, not a session.
    for (const { value: message } of this.retained.match(sub.filter)) {
      if (message.expiresAt !== null && message.expiresAt <= now) {
        this.retained.delete(message.topic);
        this.store.deleteRetained(message.topic);
        continue;
      }
      this.deliverRetained(session, sub, message, now);
    }
    const remote = this.remoteRetained(sub.filter);
    if (!remote) return;
    return remote.then((messages) => {
      if (this.sessions.get(session.clientId) !== session || this.connectionOf(session) !== conn) return;
      const later = this.clock.now();
      for (const message of messages) if (message.expiresAt === null || message.expiresAt > later) this.deliverRetained(session, sub, message, later);
    });
  }

  private deliverRetained(session: Session, sub: SubscriptionRecord, message: BrokerMessage, now: number): void {
    if (!this.authorizer.canReceive({ clientId: session.clientId, username: session.record.username }, message.topic)) return;
    const delivery: Delivery = {
      message,
      qos: Math.min(sub.qos, message.qos) as QoS,
      retain: true,
      subscriptionIds: sub.subscriptionId !== null ? [sub.subscriptionId] : [],
    };
    this.deliver(session, delivery, now);
  }

  flushCounters(now: number, force: boolean): void {
    if (!force && now - this.countersSavedAt < COUNTER_FLUSH_MS) return;
    this.countersSavedAt = now;
    this.store.saveCounters(this.counters);
  }
}
