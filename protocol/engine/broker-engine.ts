import type { Packet } from 'mqtt-packet';
import { decodePacket } from '../codec/decode';
import { encodePacket } from '../codec/encode';
import { FrameError } from '../codec/framer';
import type { BrokerConfig } from '../config';
import type { Authenticator, Authorizer, BrokerEvents, Clock, ConnectionSnapshot, Transport, TrustedContext } from '../ports';
import { RC } from '../reason-codes';
import type { SessionStore } from '../store/session-store';
import type { BrokerCounters, BrokerMessage, Delivery, OutboundRecord, SessionRecord, SubscriptionRecord } from '../store/records';
import { SubscriptionIndex } from '../topics/subscription-index';
import { RetainedIndex } from '../topics/retained-index';
import { isSharedFilter } from '../topics/validate';
import { ConnectingBytes } from './connecting-bytes';
import { Connection, type EndCause } from './connection';
import { Session } from './session';
import { forgetOwedAcks, heldAcksDueAt, whenCaughtUp, releaseHeldAcks } from './flow-control';
import type { AckHolder } from './owed-ack';
import { ClusterNode, type ClusterApplier } from '../cluster/cluster-node';
import type { ForwardedPublish } from '../cluster/messages';
import { SessionDelivery, type DeliveryPort } from '../delivery/session-delivery';
import { Router, type Routed } from '../routing/router';
import type { Recipients } from '../routing/recipients';
import { SharedGroups } from '../routing/shared-groups';
import { RetainedMessages } from '../routing/retained-messages';
import { SysTopics, type SysTopicsHost } from './sys-topics';
import type { BrokerEngineDeps, EngineApi } from './engine-api';
import { handleConnect, handleConnectAuth } from '../handlers/connect';
import { handlePublish, handlePubrel } from '../handlers/publish';
import { handlePuback, handlePubrec, handlePubcomp } from '../handlers/acks';
import { handleSubscribe } from '../handlers/subscribe';
import { handleUnsubscribe } from '../handlers/unsubscribe';
import { handleDisconnect } from '../handlers/disconnect';
import { handleAuth } from '../handlers/auth';

export type { BrokerEngineDeps, Routed } from './engine-api';

/** How often counters are written back while traffic flows, so hibernation loses at most this much. */
const COUNTER_FLUSH_MS = 10_000;

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

/** How far ahead of their time the alarm writes the rows of clean sessions (storeDueSessionRows). */
const ROW_BATCH_MS = 1_000;

/**
 * The MQTT broker for one shard, free of platform calls. Every packet is
 * handled synchronously against a synchronous store, except CONNECT's
 * authentication; while that runs, the connection's later packets wait in
 * order (Connection.pending), so each session sees its packets in order.
 *
 * The engine owns connections, sessions and timers and dispatches packets
 * to the handlers; where a message goes is the router's job
 * (protocol/routing/), and getting it to one session is delivery's
 * (protocol/delivery/).
 */
export class BrokerEngine implements EngineApi, ClusterApplier, DeliveryPort, Recipients, SysTopicsHost {
  readonly config: BrokerConfig;
  readonly store: SessionStore;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;
  readonly events: BrokerEvents;
  readonly cluster: ClusterNode;
  private readonly sessionStored: ((clientId: string) => void) | undefined;

  readonly connections = new Map<string, Connection>();
  /** Bytes held for connections not yet accepted, over all of them, within MQTT_MAX_CONNECTING_BYTES. */
  readonly connecting = new ConnectingBytes(() => this.config.maxConnectingBytes);
  /**
   * Connections with a packet partly received and not yet marked (notePartialPacket), in the order their
   * packets began: the first one's deadline is the earliest, so nextWakeAt reads it without a search.
   */
  private readonly partialPackets = new Set<Connection>();
  /**
   * Sessions opened without their row (saveOpenedSession), in the order they
   * opened, each with when the alarm writes it: the first is the earliest, so
   * nextWakeAt reads it without a search.
   */
  private readonly unstoredRows = new Map<Session, number>();
  /**
   * Connections opened without a snapshot (openConnection), in the order
   * they opened: almost every one is accepted, and its snapshot written, well
   * within hibernationGuardMs; the alarm writes the others' before the shard
   * may hibernate. The first is the earliest, so nextWakeAt reads it without a search.
   */
  private readonly unsnapshotted = new Set<Connection>();
  readonly sessions = new Map<string, Session>();
  readonly subscriptions = new SubscriptionIndex<SubscriptionRecord>();
  readonly retained = new RetainedIndex<BrokerMessage>();
  readonly sys: SysTopics;
  readonly counters: BrokerCounters;
  private readonly delivery: SessionDelivery;
  private readonly retainedMessages: RetainedMessages;
  private readonly router: Router;
  private countersSavedAt = 0;
  /** Denied PUBLISHes per connection, for aclDenialsBeforeDisconnect. */
  private readonly aclDenials = new WeakMap<Connection, number>();
  /** Earliest known deadline; may be early (then onTimer recomputes), never late. */
  private wakeAt: number | null = null;

  constructor(deps: BrokerEngineDeps) {
    ({ config: this.config, store: this.store, transport: this.transport, clock: this.clock, authenticator: this.authenticator, authorizer: this.authorizer } = deps);
    this.events = deps.events ?? {};
    this.sessionStored = deps.sessionStored;
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
    // The engine is the port of each: delivery's, the routing modules' Recipients, the $SYS topics' host.
    this.delivery = new SessionDelivery(this);
    const { config, store, clock, counters, retained, subscriptions, cluster } = this;
    this.retainedMessages = new RetainedMessages({ config, store, clock, counters, retained, cluster, recipients: this });
    this.router = new Router({ subscriptions, cluster, recipients: this, sharedGroups: new SharedGroups(this), retainedMessages: this.retainedMessages, sharedSubscriptionPolicy: this.config.sharedSubscriptionPolicy });
    this.sys = new SysTopics(this);
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Rebuilds memory after the object woke or restarted: sessions,
   * subscriptions and retained messages from the store; live connections from
   * their socket snapshots. Sessions whose socket did not survive (eviction,
   * restart) are ended by endConnectionsLostWhileAway, called next.
   */
  restore(snapshots: ConnectionSnapshot[]): void {
    for (const record of this.store.loadSessions()) {
      const session = new Session(record);
      session.rowStored = true;
      this.sessions.set(record.clientId, session);
    }
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
          // Its in-flight messages and queue are in the store, read on first need (ensureLoaded).
          if (conn.deliveryStateStored && !session.persistent) session.spilled = true;
          if (conn.clientTopicAliasMaximum >= 0) conn.inboundTopicAliases = this.store.loadTopicAliases(conn.id);
        } else {
          // The session ended while the socket slept (expired, taken over): nothing to resume.
          conn.state = 'closed';
          this.connections.delete(conn.id);
          this.transport.close(conn.id, 1000, 'session no longer exists');
        }
      }
    }
    // Connection ids are per socket: the aliases of one that did not come back can never be used again.
    this.store.keepTopicAliasesOf(this.connections);
    this.sys.restore();
    this.recomputeWake();
  }

  /**
   * The second half of restore: sessions whose socket did not come back lost
   * their network connection while the shard was away (a restart, a deploy),
   * so their wills go out and the sessions that end with their connection end.
   * Separate because those wills are judged by the topic ACLs: the host calls
   * it once the principals and the rules are back, or every will would meet
   * the deny-all that stands in for rules not read yet.
   */
  endConnectionsLostWhileAway(): void {
    const now = this.clock.now();
    for (const conn of [...this.connections.values()]) {
      if (conn.lostPartialPacket) this.partialPacketLost(conn);
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
    this.recomputeWake();
  }

  openConnection(connectionId: string, trusted: TrustedContext): void {
    const now = this.clock.now();
    const conn = new Connection(connectionId, trusted, now, this.config.maxPacketSize);
    this.connections.set(connectionId, conn);
    // Its snapshot waits: the CONNECT's acceptance writes it, or the alarm before the shard may hibernate (snapshotWaitingConnections).
    this.unsnapshotted.add(conn);
    this.scheduleWake(now + this.config.connectTimeoutMs);
  }

  /**
   * Bytes from the socket. Returns a promise only while an asynchronous step
   * is running. The engine may keep views of `bytes` (a message's payload):
   * the caller must not write to them afterwards.
   */
  receive(connectionId: string, bytes: Uint8Array): Promise<void> | void {
    const conn = this.connections.get(connectionId);
    if (!conn || conn.state === 'closed' || conn.inputEnded) return;
    this.counters.bytesReceived += bytes.byteLength;
    if (conn.lostPartialPacket) return this.partialPacketLost(conn);
    let packets: Uint8Array[];
    try {
      packets = conn.framer.push(bytes);
    } catch (err) {
      // The framer forgot the broken packet: nothing of it is held any more.
      this.notePartialPacket(conn);
      if (conn.connectingBytes !== 0) this.connecting.update(conn);
      if (!(err instanceof FrameError)) {
        this.internalError(conn, err);
        return;
      }
      const frameError = err as FrameError;
      // What the client sent before the broken header is handled first (a DISCONNECT among it included).
      return this.endInputWith(conn, frameError.completed, frameError.kind === 'packet-too-large' ? RC.PACKET_TOO_LARGE : RC.MALFORMED_PACKET, frameError.message);
    }
    this.notePartialPacket(conn);
    if (conn.state === 'connected' && conn.connectingBytes === 0) return packets.length === 0 ? undefined : this.take(conn, packets);
    if (!this.withinConnectingBytes(conn)) return;
    if (packets.length === 0) return;
    const handled = this.take(conn, packets);
    // A CONNECT accepted at once with the start of the next packet behind it: no longer counted as connecting.
    if (!handled && conn.connectingBytes !== 0) this.withinConnectingBytes(conn);
    return handled;
  }

  /**
   * A connection whose snapshot says a packet was arriving when the shard
   * hibernated (midPacket): its start went with the memory, and what comes
   * now is the rest of it, which cannot be read as packets. Ended as a
   * network loss, so its will goes out.
   */
  private partialPacketLost(conn: Connection): void {
    this.disconnect(conn, RC.IMPLEMENTATION_SPECIFIC_ERROR, 'a packet in progress was lost while the broker was idle; send it again', 'network');
  }

  /**
   * Counts what a connection not yet accepted holds (ConnectingBytes) and
   * refuses the largest holders while the shard's total is past
   * MQTT_MAX_CONNECTING_BYTES: 0x97 (Quota Exceeded) in a 5.0 CONNACK, a
   * closed socket otherwise. False when `conn` itself was refused.
   */
  private withinConnectingBytes(conn: Connection): boolean {
    for (const refused of this.connecting.update(conn)) {
      refused.pending = [];
      refused.pendingBytes = 0;
      this.disconnect(refused, RC.QUOTA_EXCEEDED, `the broker holds more than ${this.config.maxConnectingBytes} bytes for connections not accepted yet`);
    }
    return conn.state !== 'closed';
  }

  /**
   * Keeps Connection.partialSince: a packet split over frames (MQTT.js on
   * Node, or a large one) is normally whole within milliseconds; one still
   * partial after hibernationGuardMs is marked in the snapshot by the alarm
   * (markPartialPackets), before the shard may hibernate and lose its start.
   */
  private notePartialPacket(conn: Connection): void {
    if (conn.framer.bufferedBytes > 0) {
      if (conn.partialSince !== null) return;
      conn.partialSince = this.clock.now();
      this.partialPackets.add(conn);
      return;
    }
    if (conn.partialSince === null) return;
    conn.partialSince = null;
    this.partialPackets.delete(conn);
    if (conn.midPacketMarked) {
      conn.midPacketMarked = false;
      if (conn.state !== 'closed') this.saveSnapshot(conn, this.clock.now());
    }
  }

  /** When the oldest unmarked partial packet is due to be marked (nextWakeAt); null when there is none. */
  private partialPacketDueAt(): number | null {
    const oldest = this.partialPackets.values().next().value;
    return oldest ? oldest.partialSince! + this.config.hibernationGuardMs : null;
  }

  /** The alarm's part of notePartialPacket: packets partial for hibernationGuardMs are marked in their connections' snapshots. */
  private markPartialPackets(now: number): void {
    for (const conn of this.partialPackets) {
      if (now < conn.partialSince! + this.config.hibernationGuardMs) break;
      this.partialPackets.delete(conn);
      conn.midPacketMarked = true;
      this.saveSnapshot(conn, now);
    }
  }

  /**
   * The client's input broke off (a malformed or oversized header, or a
   * violation the edge gateway saw): the packets that came before it are
   * handled, in order, and then the connection ends with `reasonCode`.
   * Nothing the client sends after the break is read [MQTT-4.13.1-1], though
   * earlier packets may still be waiting behind an asynchronous step.
   */
  private endInputWith(conn: Connection, before: Uint8Array[], reasonCode: number, reason: string): Promise<void> | void {
    conn.inputEnded = true;
    const refuse = () => {
      if (conn.state !== 'closed') this.disconnect(conn, reasonCode, reason);
    };
    const handled = before.length > 0 ? this.take(conn, before) : conn.busy ?? undefined;
    if (handled) return handled.then(refuse);
    refuse();
  }

  /** Whole packets from the socket: handled now, or after the asynchronous step running (in order either way). */
  private take(conn: Connection, packets: Uint8Array[]): Promise<void> | void {
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
      this.disconnect(conn, RC.QUOTA_EXCEEDED, `more than ${this.config.maxPendingBytes} bytes sent while ${conn.state === 'connected' ? 'an earlier packet was being handled' : 'the CONNECT was being authenticated'}`);
      return;
    }
    conn.pending.push(...packets);
    if (conn.state !== 'connected') this.withinConnectingBytes(conn);
  }

  /** A text frame or similar transport-level violation (caught here, or by the edge gateway and reported). */
  protocolViolation(connectionId: string, what: string, reasonCode: number = RC.MALFORMED_PACKET): Promise<void> | void {
    const conn = this.connections.get(connectionId);
    if (!conn || conn.state === 'closed' || conn.inputEnded) return;
    // Packets the gateway forwarded before it may be waiting behind an asynchronous step: they go first.
    return this.endInputWith(conn, [], reasonCode, what);
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

  /**
   * Runs every due timer. Called from the single Durable Object alarm.
   * `judging` is false while the ACL rules are unknown (a shard that woke
   * without them): what they would judge waits, as the deny-all placeholder
   * would refuse it. That is wills, the keepalive ends and session expiries
   * that publish them, and $SYS. Connect timeouts, held acknowledgements,
   * spills and deliveries to other shards go on.
   */
  onTimer(judging = true): void {
    const now = this.clock.now();
    this.markPartialPackets(now);
    this.snapshotWaitingConnections(now);
    this.storeDueSessionRows(now);
    for (const conn of [...this.connections.values()]) {
      if (conn.state === 'awaiting-connect' || conn.state === 'authenticating') {
        if (now >= conn.openedAt + this.config.connectTimeoutMs) {
          // No CONNECT in time: close without CONNACK [MQTT-3.1.4-1 spirit; mosquitto does the same].
          this.closeConnection(conn, 'network', 1002, 'no CONNECT received in time');
        }
        continue;
      }
      const deadline = conn.keepaliveDeadline();
      if (judging && deadline !== null && now >= deadline) {
        this.disconnect(conn, RC.KEEP_ALIVE_TIMEOUT, 'keepalive timeout', 'keepalive');
      }
    }
    for (const session of [...this.sessions.values()]) {
      if (judging && session.record.willDueAt !== null && session.record.willDueAt <= now) {
        this.publishWill(session, now);
      }
      if (judging && session.hasExpired(now)) {
        this.endSession(session, now);
        continue;
      }
      if (session.heldAcks.size > 0) this.delivery.settleHeldAcks(session, now);
      this.delivery.spillIfWaiting(session, now);
    }
    if (judging) this.sys.onTimer(now);
    this.cluster.pump();
    this.flushCounters(now, true);
    this.recomputeWake();
  }

  nextWakeAt(): number | null {
    // Asked after every event: no array, no search.
    const retry = this.cluster.nextWakeAt();
    const partial = this.partialPacketDueAt();
    const row = this.unstoredRows.values().next().value;
    const waiting = this.unsnapshotted.values().next().value;
    const snapshot = waiting === undefined ? null : waiting.openedAt + this.config.hibernationGuardMs;
    let next = this.wakeAt;
    if (retry !== null && (next === null || retry < next)) next = retry;
    if (partial !== null && (next === null || partial < next)) next = partial;
    if (row !== undefined && (next === null || row < next)) next = row;
    if (snapshot !== null && (next === null || snapshot < next)) next = snapshot;
    return next;
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
      if (session.heldAcks.size > 0) consider(heldAcksDueAt(this, session.lastProgressAt));
      consider(this.delivery.spillDueAt(session));
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
            // Accepted or refused, what it held while authenticating no longer counts against the shard's bound.
            if (conn.connectingBytes !== 0) this.withinConnectingBytes(conn);
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
    const decoded = decodePacket(raw, conn.state === 'awaiting-connect' ? null : conn.protocolVersion, conn.topics);
    if (!decoded.ok) {
      if (conn.state === 'awaiting-connect') {
        this.refuseUndecodableConnect(conn, decoded);
        return;
      }
      this.disconnect(conn, decoded.reasonCode, decoded.message);
      return;
    }
    try {
      const result = this.dispatch(conn, decoded.packet, raw, now);
      if (result) return result;
    } catch (err) {
      this.internalError(conn, err);
      return;
    }
    if (conn.state === 'connected' && conn.keepaliveSeconds > 0 && !conn.trusted.keepaliveAtEdge && now - conn.lastSnapshotAt > conn.keepaliveSeconds * 250) {
      // Throttled: a woken object must not think a chatty client went quiet.
      this.saveSnapshot(conn, now);
    }
    this.flushCounters(now, false);
  }

  private dispatch(conn: Connection, packet: Packet, raw: Uint8Array, now: number): Promise<void> | void {
    if (conn.state === 'awaiting-connect') {
      if (packet.cmd !== 'connect') {
        // The first packet must be CONNECT [MQTT-3.1.0-1].
        this.closeConnection(conn, 'protocol-error', 1002, 'first packet was not CONNECT');
        return;
      }
      return handleConnect(this, conn, packet, now);
    }
    if (conn.state === 'authenticating') {
      // Only reachable during an enhanced authentication exchange: AUTH continues it [MQTT-4.12.0-1], and
      // DISCONNECT is the client's other right until CONNACK [MQTT-3.1.2-30]: it leaves, answered by nothing.
      if (packet.cmd === 'auth') return handleConnectAuth(this, conn, packet);
      if (packet.cmd === 'disconnect') return this.closeConnection(conn, 'client-disconnect', 1000, 'client left during authentication');
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
        return handlePublish(this, conn, session, packet, raw, now);
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
        return handleAuth(this, conn, session, packet);
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

  /** Whether a member of this shared group is connected here (the cluster tells the other shards). */
  hasConnectedMember(key: string): boolean {
    for (const member of this.subscriptions.groupMembers(key)) {
      const session = this.sessions.get(member.clientId);
      if (session && this.connectionOf(session)) return true;
    }
    return false;
  }

  /** The session connected or lost its connection: the shared groups it is a member of may have gained or lost their last connected member here. */
  private sharedMembershipChanged(session: Session): void {
    if (!this.cluster.clustered) return;
    for (const { filter } of this.subscriptions.forClient(session.clientId)) if (isSharedFilter(filter)) this.cluster.sharedMembersChanged(filter);
  }

  encode(conn: Connection, packet: Packet): Uint8Array {
    return encodePacket(packet, conn.protocolVersion ?? 4);
  }

  send(conn: Connection, packet: Packet): void {
    if (conn.state === 'closed') return;
    const bytes = this.encode(conn, packet);
    if (conn.clientMaxPacketSize > 0 && bytes.byteLength > conn.clientMaxPacketSize) return this.sendWithin(conn, packet, bytes);
    this.sendBytes(conn, bytes);
  }

  /**
   * A packet of the broker's own (an acknowledgement, CONNACK, DISCONNECT)
   * over the client's Maximum Packet Size: it goes without its Reason String
   * and User Properties, which the server must leave out rather than exceed
   * that size ([MQTT-3.2.2-19], [MQTT-3.2.2-20] for CONNACK, [MQTT-3.14.2-3],
   * [MQTT-3.14.2-4] for DISCONNECT, and likewise for the others). Still too
   * large, it is not sent at all [MQTT-3.1.2-24]. A PUBLISH's properties are
   * the message's own; delivery has already decided whether it fits
   * (session-delivery.ts).
   */
  private sendWithin(conn: Connection, packet: Packet, bytes: Uint8Array): void {
    const properties = (packet as { properties?: Record<string, unknown> }).properties;
    if (packet.cmd !== 'publish' && properties && ('reasonString' in properties || 'userProperties' in properties)) {
      const { reasonString: _reason, userProperties: _user, ...rest } = properties;
      bytes = this.encode(conn, { ...packet, properties: rest } as Packet);
    }
    if (bytes.byteLength > conn.clientMaxPacketSize) return;
    this.sendBytes(conn, bytes);
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
    this.connections.delete(conn.id);
    this.connecting.release(conn);
    this.partialPackets.delete(conn);
    this.unsnapshotted.delete(conn);
    if (conn.state === 'closed') return;
    const wasConnected = conn.state === 'connected';
    conn.state = 'closed';
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
    session.forgetRetainedLookups();
    this.sharedMembershipChanged(session);
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
    this.writeSessionRow(session);
    if (session.record.willDueAt !== null) this.scheduleWake(session.record.willDueAt);
    const expiresAt = session.expiresAt();
    if (expiresAt !== null) this.scheduleWake(expiresAt);
  }

  /** The session ends: a still-pending will goes out now [MQTT-3.1.3-9], then everything it owned is removed. */
  endSession(session: Session, now: number): void {
    if (session.record.will && session.record.willDueAt !== null) this.publishWill(session, now);
    releaseHeldAcks(this, session);
    this.sessions.delete(session.clientId);
    this.unstoredRows.delete(session);
    for (const { filter } of this.subscriptions.forClient(session.clientId)) this.cluster.localSubscriptionRemoved(filter);
    this.subscriptions.removeClient(session.clientId);
    // A session without its row has nothing stored: every other row is written only after it (addSubscription, spills).
    if (session.rowStored) this.store.deleteSession(session.clientId);
    this.sys.subscriptionsChanged();
  }

  publishWill(session: Session, now: number): void {
    const will = session.record.will;
    session.record.will = null;
    session.record.willDueAt = null;
    if (this.sessions.get(session.clientId) === session && session.persistent) this.writeSessionRow(session);
    if (!will) return;
    const message: BrokerMessage = {
      ...will.message,
      createdAt: now,
      expiresAt: will.expirySeconds !== null ? now + will.expirySeconds * 1000 : null,
    };
    // Checked again now: the rules may have changed since CONNECT, and $SYS is the broker's alone.
    if (message.topic.startsWith('$SYS')) return;
    // Judged as the client that set it, not as a newer CONNECT for the same client id.
    if (!this.authorizer.canPublish({ clientId: session.clientId, username: session.record.username, binding: session.binding }, message.topic)) return;
    this.acceptMessage(message, now);
  }


  // ---------------------------------------------------------------- sessions

  findSession(clientId: string): Session | undefined {
    return this.sessions.get(clientId);
  }

  findConnection(connectionId: string): Connection | undefined {
    return this.connections.get(connectionId);
  }

  /** A new session for this client id, in memory until saveOpenedSession writes it. */
  startSession(record: SessionRecord): Session {
    const session = new Session(record);
    session.loaded = true;
    this.sessions.set(record.clientId, session);
    return session;
  }

  /** Writes a session CONNECT just opened or resumed; its queue and in-flight state follow when it starts or stops outliving its connection. */
  saveOpenedSession(session: Session, wasPersistent: boolean): void {
    this.sharedMembershipChanged(session);
    if (wasPersistent && !session.persistent) {
      // The resumed session no longer outlives its connection: its durable queue moves to memory.
      this.delivery.moveQueueToMemory(session);
      // Deleting the stored session took its subscriptions with it; they live on with the session.
      for (const sub of this.subscriptions.forClient(session.clientId)) this.store.saveSubscription(sub.value);
    } else if (!wasPersistent && session.persistent) {
      // Its row first: delivery rows never exist without it.
      this.writeSessionRow(session);
      this.delivery.persistSessionState(session);
      return;
    }
    if (session.rowStored || session.persistent || session.record.will !== null) {
      this.writeSessionRow(session);
      return;
    }
    // Ends with its connection and has no will: nothing needs its row before the shard may hibernate.
    if (!this.unstoredRows.has(session)) {
      const due = this.clock.now() + this.config.hibernationGuardMs;
      this.unstoredRows.set(session, due);
      this.scheduleWake(due);
    }
  }

  saveSession(session: Session): void {
    // Every open session has a row once the shard may hibernate, clean ones included: the woken shard reads them all back.
    if (this.sessions.get(session.clientId) === session) this.writeSessionRow(session);
  }

  /** The one way a session's row is written: the host stores what belongs with it (sessionStored) in the same event. */
  writeSessionRow(session: Session): void {
    this.unstoredRows.delete(session);
    session.rowStored = true;
    this.store.saveSession(session.record);
    this.sessionStored?.(session.clientId);
  }

  /**
   * The alarm's part of saveOpenedSession: sessions open for
   * hibernationGuardMs get their rows, all in this one event, before the
   * platform may hibernate the shard under their sockets, and with them
   * those due within ROW_BATCH_MS (early is harmless), so a reconnect storm
   * costs about one alarm a second rather than one per connection. Those
   * already ended were taken out by endSession.
   */
  private storeDueSessionRows(now: number): void {
    for (const [session, due] of this.unstoredRows) {
      if (now + ROW_BATCH_MS < due) break;
      this.writeSessionRow(session);
    }
  }

  markDeliveryStateStored(conn: Connection, stored: boolean): void {
    conn.deliveryStateStored = stored;
    this.saveSnapshot(conn, this.clock.now());
  }

  /**
   * The alarm's part of openConnection: connections open for
   * hibernationGuardMs without a snapshot (no CONNECT accepted yet) get one,
   * with those due within ROW_BATCH_MS, before the platform may hibernate the
   * shard and a socket without an attachment would no longer be known.
   */
  private snapshotWaitingConnections(now: number): void {
    for (const conn of this.unsnapshotted) {
      if (now + ROW_BATCH_MS < conn.openedAt + this.config.hibernationGuardMs) break;
      this.saveSnapshot(conn, now);
    }
  }

  /** The socket's attachment: what survives hibernation of this connection. */
  saveSnapshot(conn: Connection, now: number): void {
    this.unsnapshotted.delete(conn);
    conn.lastSnapshotAt = now;
    this.transport.saveConnectionSnapshot(conn.id, conn.snapshot());
  }

  saveTopicAlias(conn: Connection, alias: number, topic: string): void {
    conn.inboundTopicAliases.set(alias, topic);
    this.store.saveTopicAlias(conn.id, alias, topic);
  }

  mayReceive(session: Session, topic: string): boolean {
    return this.authorizer.canReceive({ clientId: session.clientId, username: session.record.username }, topic);
  }

  // ---------------------------------------------------------------- counters

  countAuthFailure(): void {
    this.counters.authFailures++;
  }

  countConnection(): void {
    this.counters.connectionsTotal++;
  }

  countPublishReceived(): void {
    this.counters.publishReceived++;
  }

  /** One more denied PUBLISH on this connection; returns how many so far. */
  countAclDenial(conn: Connection): number {
    const denials = (this.aclDenials.get(conn) ?? 0) + 1;
    this.aclDenials.set(conn, denials);
    return denials;
  }

  flushCounters(now: number, force: boolean): void {
    if (!force && now - this.countersSavedAt < COUNTER_FLUSH_MS) return;
    this.countersSavedAt = now;
    this.store.saveCounters(this.counters);
  }

  // ---------------------------------------------------------------- routing (protocol/routing/)

  acceptMessage(message: BrokerMessage, now: number, asReceived?: Uint8Array): Routed {
    if (asReceived) this.delivery.sendsAsReceived(message, asReceived);
    return this.router.acceptMessage(message, now);
  }

  routeHere(message: BrokerMessage, now: number): Routed {
    return this.router.routeHere(message, now);
  }

  sendRetained(conn: Connection, session: Session, sub: SubscriptionRecord, now: number): Promise<void> | void {
    return this.retainedMessages.sendRetained(conn, session, sub, now);
  }

  /** Removes the retained message of this topic (an administrator's delete); false when there was none. */
  deleteRetained(topic: string): boolean {
    return this.retainedMessages.deleteRetained(topic);
  }

  /** Retained messages stored here that match any of these filters (another shard's look-up). */
  retainedMatching(filters: string[], now: number): BrokerMessage[] {
    return this.retainedMessages.retainedMatching(filters, now);
  }

  // ---------------------------------------------------------------- delivery (protocol/delivery/)

  deliver(session: Session, delivery: Delivery, now: number): boolean {
    return this.delivery.deliver(session, delivery, now);
  }

  ensureLoaded(session: Session): void {
    this.delivery.ensureLoaded(session);
  }

  resumeInflight(conn: Connection, session: Session, now: number): void {
    this.delivery.resumeInflight(conn, session, now);
  }

  awaitPubcomp(session: Session, record: OutboundRecord): void {
    this.delivery.awaitPubcomp(session, record);
  }

  completeOutbound(conn: Connection, session: Session, packetId: number): void {
    this.delivery.completeOutbound(conn, session, packetId);
  }

  recordInboundQos2(session: Session, packetId: number): void {
    this.delivery.recordInboundQos2(session, packetId);
  }

  forgetInboundQos2(session: Session, packetId: number): boolean {
    return this.delivery.forgetInboundQos2(session, packetId);
  }

  acknowledgementsSent(conn: Connection, pubrecs: boolean): void {
    const session = conn.clientId === null ? undefined : this.sessions.get(conn.clientId);
    if (session && session.connectionId === conn.id) this.delivery.acknowledgementsSent(session, pubrecs);
  }

  // ---------------------------------------------------------------- subscriptions

  findSubscription(clientId: string, filter: string): SubscriptionRecord | undefined {
    return this.subscriptions.get(clientId, filter);
  }

  subscriptionCount(clientId: string): number {
    return this.subscriptions.countForClient(clientId);
  }

  /** Adds or replaces a session's subscription [MQTT-3.8.4-3]; true when it is new. The first one with a filter is announced to the other shards. */
  addSubscription(record: SubscriptionRecord): boolean {
    const isNew = !this.subscriptions.get(record.clientId, record.filter);
    this.subscriptions.add(record.clientId, record.filter, record);
    // A subscription is stored only with its session's row: the shard that wakes finds it through that row, and a
    // session ending then tells the other shards its routes are gone (a row alone would be deleted without a word).
    const session = this.sessions.get(record.clientId);
    if (session && !session.rowStored) this.writeSessionRow(session);
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

  whenRoutesConfirmed(): Promise<void> | null {
    return this.cluster.whenConfirmed();
  }

  // ---------------------------------------------------------------- other shards

  /** Another shard's message for subscribers here (and, as its retained home, for the retained store). */
  applyForwarded(entry: ForwardedPublish, now: number): readonly AckHolder[] {
    return this.router.routeForwarded(entry, now);
  }

  whenCaughtUp(behind: readonly AckHolder[]): Promise<void> {
    return whenCaughtUp(this, behind);
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
}
