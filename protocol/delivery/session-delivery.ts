import type { Packet } from 'mqtt-packet';
import type { BrokerConfig } from '../config';
import type { Clock } from '../ports';
import type { SessionStore } from '../store/session-store';
import { queuedSize, type BrokerCounters, type BrokerMessage, type Delivery, type OutboundRecord } from '../store/records';
import type { Connection } from '../engine/connection';
import type { Session } from '../engine/session';
import type { AckHolder } from '../engine/owed-ack';
import { PublishEncoder } from './publish-encoder';

/** What delivery needs of the broker around it. */
export interface DeliveryPort {
  readonly config: BrokerConfig;
  readonly store: SessionStore;
  readonly clock: Clock;
  readonly counters: BrokerCounters;
  /** The session's connection, if it is connected. */
  connectionOf(session: Session): Connection | undefined;
  send(conn: Connection, packet: Packet): void;
  sendBytes(conn: Connection, bytes: Uint8Array): void;
  /** The recipient no longer holds publishers back: their withheld acks may leave (flow-control.ts). */
  released(holder: AckHolder): void;
  /** Runs the shard's timers (its single alarm) no later than `at`. */
  scheduleWake(at: number): void;
  /** Records in the connection's snapshot whether its session's delivery state is in the store, for the instance that wakes after hibernation. */
  markDeliveryStateStored(conn: Connection, stored: boolean): void;
  /** Writes the session's row (and what the host keeps with it). */
  writeSessionRow(session: Session): void;
}

/**
 * Getting messages to one session: send now while the client's window has
 * room, queue (bounded) when it has not, drop and count past the bounds; and
 * the session's in-flight state, in memory and, for persistent and spilled
 * sessions, in the store.
 */
export class SessionDelivery {
  private readonly encoder = new PublishEncoder();

  constructor(private readonly port: DeliveryPort) {}

  /** A message about to be routed arrived as the bytes its 3.1/3.1.1 QoS 0 deliveries are (PublishEncoder.adopt). */
  sendsAsReceived(message: BrokerMessage, bytes: Uint8Array): void {
    this.encoder.adopt(message, bytes);
  }

  /**
   * Hands one message to one session: send now, or queue (bounded), or drop.
   * Returns true when the session is connected, healthy and behind, so the
   * publisher's acknowledgement should wait for it (see flow-control.ts).
   */
  deliver(session: Session, delivery: Delivery, now: number): boolean {
    const conn = this.port.connectionOf(session);
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
    return Math.min(conn.clientReceiveMaximum, this.port.config.maxInflightOut);
  }

  private windowFull(session: Session, conn: Connection): boolean {
    return session.outbound.size >= this.outboundWindow(conn);
  }

  /**
   * Behind: the window is full and more than a small backlog is queued (one
   * window's worth, at most a quarter of the queue bound in messages, or a
   * quarter of it in bytes). Publishers' acks then wait, so the backlog stays
   * within the publishers' windows. The byte watermark matters for large
   * messages: counted in messages alone, a window's worth of them could fill
   * the byte bound before publishers were ever slowed, and what no longer
   * fits would be dropped for a subscriber that keeps acknowledging.
   */
  isBehind(session: Session, conn: Connection): boolean {
    const window = this.outboundWindow(conn);
    if (session.outbound.size < window) return false;
    const { maxQueuedMessages, maxQueuedBytes } = this.port.config;
    return session.queueLength() > Math.min(window, Math.floor(maxQueuedMessages / 4)) || session.queuedBytes > maxQueuedBytes / 4;
  }

  /**
   * Stuck, decided from progress rather than speed: the window is full and
   * nothing was acknowledged for stuckSubscriberMs, or the queue reached a
   * bound. A stuck session holds no publisher back; its own queue takes what
   * fits and the rest is dropped and counted for it.
   */
  isStuck(session: Session, conn: Connection, now: number): boolean {
    if (!this.windowFull(session, conn)) return false;
    return now - session.lastProgressAt >= this.port.config.stuckSubscriberMs || this.queueFull(session);
  }

  private queueFull(session: Session): boolean {
    return session.queueLength() >= this.port.config.maxQueuedMessages || session.queuedBytes >= this.port.config.maxQueuedBytes;
  }

  /** Releases the acks a session holds once it is no longer a healthy recipient that is behind. */
  settleHeldAcks(session: Session, now: number): void {
    if (session.heldAcks.size === 0) return;
    const conn = this.port.connectionOf(session);
    if (conn && this.isBehind(session, conn) && !this.isStuck(session, conn, now)) return;
    this.port.released(session);
  }

  private countDrop(session: Session): void {
    session.record.droppedMessages++;
    this.port.counters.messagesDropped++;
    // A spilled session's row is what the woken shard reads back, its drops included.
    if (session.storesDeliveryState) this.port.writeSessionRow(session);
  }

  /** Queues within both bounds (count and bytes); past them the message is dropped and counted for this session. */
  private enqueue(session: Session, delivery: Delivery): boolean {
    const size = queuedSize(delivery);
    const { config, store } = this.port;
    if (session.queueLength() >= config.maxQueuedMessages || session.queuedBytes + size > config.maxQueuedBytes) {
      this.countDrop(session);
      return false;
    }
    if (session.storesDeliveryState) {
      store.enqueue(session.clientId, delivery);
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
    if (session.outbound.size === 0) {
      // The window just opened: the time to "stuck" counts from here, not from an old acknowledgement.
      session.lastProgressAt = now;
      if (!session.storesDeliveryState) this.port.scheduleWake(now + this.port.config.hibernationGuardMs);
    }
    const record: OutboundRecord = { clientId: session.clientId, packetId, state: 'publish', delivery, seq: session.nextSeq() };
    const sent = this.sendPublish(conn, session, delivery, packetId, false, now);
    if (!sent) return false;
    session.outbound.set(packetId, record);
    if (session.storesDeliveryState) this.port.store.saveOutbound(record);
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
    const bytes = this.encoder.encodePublish(conn, delivery, packetId, dup, expiry);
    if (conn.clientMaxPacketSize > 0 && bytes.byteLength > conn.clientMaxPacketSize) {
      // Too large for this client: discard as if sent [MQTT-3.1.2-25].
      session.record.droppedMessages++;
      this.port.counters.messagesDropped++;
      return false;
    }
    this.port.counters.publishSent++;
    this.port.sendBytes(conn, bytes);
    return true;
  }

  /** Loads the in-flight state and queue size of a session that stores them, once. */
  ensureLoaded(session: Session): void {
    if (session.loaded) return;
    session.loaded = true;
    if (!session.storesDeliveryState) return;
    const { store } = this.port;
    session.adoptOutbound(store.loadOutbound(session.clientId));
    for (const id of store.loadInboundQos2(session.clientId)) session.inboundQos2.add(id);
    session.storedQueueLength = store.queueLength(session.clientId);
    session.queuedBytes = store.queueBytes(session.clientId);
    session.lastProgressAt = this.port.clock.now();
    // A spilled session's open flows may be why it was spilled: counted as overdue, they keep it stored until a PUBREL.
    session.inboundProgressAt = session.spilled ? session.lastProgressAt - this.port.config.hibernationGuardMs : session.lastProgressAt;
    if (session.spilled && !session.holdsDeliveryState()) this.returnToMemory(session);
  }

  /**
   * When spillIfWaiting will move this session's delivery state to the
   * store: hibernationGuardMs after its window opened or it last acknowledged
   * something, or after its client last started or completed an incoming
   * QoS 2 flow, whichever comes first. Null when there is nothing to move,
   * or it is stored already.
   */
  spillDueAt(session: Session): number | null {
    // Asks for the same connection spillIfWaiting needs, or a due time it cannot act on would wake the shard again at once.
    const conn = this.port.connectionOf(session);
    if (session.storesDeliveryState || !conn) return null;
    const outboundDue = this.outboundWaitEndsAt(session);
    // While flow control withholds its acknowledgements the client cannot release anything yet, and the
    // shard does not hibernate (flow-control.ts); the wait counts again once they are sent (acknowledgementsSent).
    const inboundDue = conn.owedAcks.length === 0 ? this.inboundWaitEndsAt(session) : null;
    if (outboundDue === null) return inboundDue;
    return inboundDue === null ? outboundDue : Math.min(outboundDue, inboundDue);
  }

  /** hibernationGuardMs after its window opened or its subscriber last acknowledged; null with nothing in flight. */
  private outboundWaitEndsAt(session: Session): number | null {
    return session.outbound.size > 0 ? session.lastProgressAt + this.port.config.hibernationGuardMs : null;
  }

  /** hibernationGuardMs after its client's QoS 2 flows last made progress; null with none open. */
  private inboundWaitEndsAt(session: Session): number | null {
    return session.inboundQos2.size > 0 ? session.inboundProgressAt + this.port.config.hibernationGuardMs : null;
  }

  /** Arms the alarm for this session's spill, if it may come to one. */
  private armSpill(session: Session): void {
    const due = this.spillDueAt(session);
    if (due !== null) this.port.scheduleWake(due);
  }

  /**
   * Called from the alarm. A session that ends with its connection keeps its
   * in-flight messages, queue and incoming QoS 2 flows in memory, but the
   * platform may hibernate the shard after ten seconds without events: the
   * socket stays open, the memory goes, and messages its publishers were
   * acknowledged for would be lost while the connection lives on. A PUBREL
   * would find its flow forgotten too, and a resent PUBLISH of that flow
   * would be delivered a second time [MQTT-4.3.3-10]. So once its subscriber
   * has left messages unacknowledged, or its client has left a QoS 2 flow
   * without PUBREL, for hibernationGuardMs, all of it moves to the store,
   * and every later change is written through as for a persistent session.
   * A client that keeps acknowledging and releasing never gets here, so the
   * hot path stays in memory.
   * The alarm is due before the shard may hibernate: the wait counts from an
   * event, and the platform's ten seconds from the last one.
   */
  spillIfWaiting(session: Session, now: number): void {
    const due = this.spillDueAt(session);
    const conn = this.port.connectionOf(session);
    if (due === null || now < due || !conn) return;
    this.writeDeliveryState(session);
    session.spilled = true;
    this.port.markDeliveryStateStored(conn, true);
  }

  /**
   * A spilled session goes back to memory once its subscriber makes progress
   * with nothing queued (or once it holds nothing), so a subscriber that
   * stalled once does not pay the store's writes for as long as its traffic
   * lasts. What is still in flight is memory's again, and the alarm is armed
   * to spill it if the subscriber stalls once more.
   */
  private returnToMemory(session: Session): void {
    session.spilled = false;
    this.port.store.deleteDeliveryState(session.clientId);
    const conn = this.port.connectionOf(session);
    if (conn) this.port.markDeliveryStateStored(conn, false);
    this.armSpill(session);
  }

  /**
   * A spilled session goes back to memory once nothing in it would be
   * spilled again at once: nothing queued, and neither in-flight messages
   * nor open QoS 2 flows past hibernationGuardMs without progress.
   */
  private mayReturnToMemory(session: Session, now: number): boolean {
    const past = (at: number | null) => at !== null && now >= at;
    return session.queueLength() === 0 && !past(this.outboundWaitEndsAt(session)) && !past(this.inboundWaitEndsAt(session));
  }

  /**
   * Moves queued messages into flight while the client's window has room,
   * oldest first; then publishers waiting for this session may go on.
   */
  drainQueue(conn: Connection, session: Session, now: number): void {
    const window = this.outboundWindow(conn);
    const { store } = this.port;
    if (session.storesDeliveryState) {
      while (session.storedQueueLength > 0 && session.outbound.size < window) {
        const batch = store.peekQueue(session.clientId, Math.max(1, window - session.outbound.size));
        if (batch.length === 0) {
          session.storedQueueLength = 0;
          session.queuedBytes = 0;
          break;
        }
        for (const queued of batch) {
          store.deleteQueued(session.clientId, queued.seq);
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
    session.inboundProgressAt = now;
    const records = [...session.outbound.values()].sort((a, b) => a.seq - b.seq);
    for (const record of records) {
      if (record.state === 'pubrel') {
        this.port.send(conn, { cmd: 'pubrel', messageId: record.packetId });
      } else if (!this.sendPublish(conn, session, record.delivery, record.packetId, true, now)) {
        session.outbound.delete(record.packetId);
        if (session.storesDeliveryState) this.port.store.deleteOutbound(session.clientId, record.packetId);
      }
    }
    this.drainQueue(conn, session, now);
    // A session resumed in memory (Session Expiry 0) brought its flows from the store: nothing else arms the spill for them.
    this.armSpill(session);
  }

  /** The client answered PUBREC: the flow waits for PUBCOMP now, and a resumed session sends PUBREL for it. */
  awaitPubcomp(session: Session, record: OutboundRecord): void {
    if (record.state !== 'publish') return;
    record.state = 'pubrel';
    if (session.storesDeliveryState) this.port.store.saveOutbound(record);
  }

  /** The flow is done: its slot refills from the queue, and publishers waiting for this subscriber may go on. */
  completeOutbound(conn: Connection, session: Session, packetId: number): void {
    const now = this.port.clock.now();
    session.outbound.delete(packetId);
    session.lastProgressAt = now;
    if (session.storesDeliveryState) this.port.store.deleteOutbound(session.clientId, packetId);
    this.drainQueue(conn, session, now);
    if (session.spilled && this.mayReturnToMemory(session, now)) this.returnToMemory(session);
  }

  /** A QoS 2 PUBLISH was accepted: its packet identifier is remembered until PUBREL, so a resend is delivered once. */
  recordInboundQos2(session: Session, packetId: number): void {
    const first = session.inboundQos2.size === 0;
    session.inboundQos2.add(packetId);
    if (session.storesDeliveryState) this.port.store.saveInboundQos2(session.clientId, packetId);
    // The first flow awaiting PUBREL: the wait before a spill counts from here, not from an old one.
    if (first) this.startInboundWait(session);
  }

  /** PUBREL ended an inbound QoS 2 flow; false when the packet identifier was not known. */
  forgetInboundQos2(session: Session, packetId: number): boolean {
    const known = session.inboundQos2.delete(packetId);
    if (!known) return false;
    const now = this.port.clock.now();
    session.inboundProgressAt = now;
    if (session.storesDeliveryState) this.port.store.deleteInboundQos2(session.clientId, packetId);
    if (session.spilled && this.mayReturnToMemory(session, now)) this.returnToMemory(session);
    return true;
  }

  /**
   * Withheld acknowledgements went out to its client. The wait of its open
   * QoS 2 flows did not count while any were withheld (spillDueAt): PUBRECs
   * among them start it again, since the client may release those flows only
   * now; PUBACKs alone arm it again from where it stood, so flows whose
   * PUBREC went out long ago still spill before the shard may hibernate.
   */
  acknowledgementsSent(session: Session, pubrecs: boolean): void {
    if (pubrecs) this.startInboundWait(session);
    else this.armSpill(session);
  }

  /** Its first flow opened, or withheld PUBRECs went out: the client's wait to release its flows starts now. */
  private startInboundWait(session: Session): void {
    const now = this.port.clock.now();
    session.inboundProgressAt = now;
    if (!session.storesDeliveryState && session.inboundQos2.size > 0) this.port.scheduleWake(now + this.port.config.hibernationGuardMs);
  }

  /** The resumed session no longer outlives its connection: its durable queue and in-flight state move to memory. */
  moveQueueToMemory(session: Session): void {
    const { config, store } = this.port;
    for (const queued of store.peekQueue(session.clientId, config.maxQueuedMessages)) {
      session.memoryQueue.push(queued.delivery);
    }
    for (const record of session.outbound.values()) store.deleteOutbound(session.clientId, record.packetId);
    for (const id of session.inboundQos2) store.deleteInboundQos2(session.clientId, id);
    store.deleteSession(session.clientId);
    session.storedQueueLength = 0;
    // The move may have stopped at the count bound: the byte count follows what moved.
    session.queuedBytes = session.memoryQueue.reduce((n, d) => n + queuedSize(d), 0);
  }

  /** The resumed session now outlives its connection: its queue and in-flight state become durable. */
  persistSessionState(session: Session): void {
    if (session.spilled) {
      // Already in the store, written through since the spill.
      session.spilled = false;
      return;
    }
    this.writeDeliveryState(session);
  }

  private writeDeliveryState(session: Session): void {
    const { store } = this.port;
    // Delivery rows never exist without their session's row: the woken shard finds them through it (and deletes them with it).
    if (!session.rowStored) this.port.writeSessionRow(session);
    for (const record of session.outbound.values()) store.saveOutbound(record);
    for (const id of session.inboundQos2) store.saveInboundQos2(session.clientId, id);
    for (const delivery of session.memoryQueue) store.enqueue(session.clientId, delivery);
    session.storedQueueLength = session.memoryQueue.length;
    session.memoryQueue = [];
  }
}
