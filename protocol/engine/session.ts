import type { Delivery, OutboundRecord, ProtocolVersion, SessionRecord, WillRecord } from '../store/records';
import { SESSION_NEVER_EXPIRES } from '../store/records';
import type { OwedAck } from './owed-ack';

/**
 * Live topics noted per session while retained messages from other shards
 * are awaited: a bound on what a flood during a slow answer can make it hold.
 * Past it, a retained message may follow a newer live one, as before.
 */
const LIVE_TOPICS_NOTED = 1_000;

/**
 * In-memory view of one MQTT session. Sessions that store their delivery
 * state (persistent ones, and spilled ones) mirror every acknowledged change
 * to the store.
 */
export class Session {
  connectionId: string | null = null;
  /** Loaded lazily from the store for sessions that store it (restore should not read every queue). */
  outbound = new Map<number, OutboundRecord>();
  inboundQos2 = new Set<number>();
  /** Overflow queue of a session that keeps its delivery state in memory; the others queue in the store. */
  memoryQueue: Delivery[] = [];
  storedQueueLength = 0;
  /** Sum of queuedSize() over the queue, memory or stored, for the byte bound. */
  queuedBytes = 0;
  /** When this session last acknowledged something, or its window last opened: how "stuck" is told from "slow". */
  lastProgressAt = 0;
  /** When its client last started or completed an incoming QoS 2 flow: how long a PUBREL has been awaited. */
  inboundProgressAt = 0;
  /** Publishers' acknowledgements waiting for this session to catch up (flow control). */
  heldAcks = new Set<OwedAck>();
  /**
   * A session that ends with its connection, whose in-flight messages and
   * queue were moved to the store because its subscriber left them
   * unacknowledged, or whose client left an incoming QoS 2 flow without its
   * PUBREL, long enough for the shard to hibernate (hibernationGuardMs in
   * config.ts). Hibernation keeps the socket open but drops memory, so
   * without this the messages its publishers were acknowledged for would
   * vanish while the connection lives on, and a PUBREL would find its flow
   * forgotten. Back to memory once it holds none.
   */
  spilled = false;
  /**
   * The authorizer's token for the identity this session was accepted under
   * (AuthDecision.binding): its will is judged by it, even after a newer
   * CONNECT for the client id has bound another identity. undefined: not
   * known (restored after eviction, until a CONNECT for its id arrives).
   */
  binding: unknown = undefined;
  loaded = false;
  /**
   * Its row is in the store. A session that ends with its connection and has
   * no will is written only when it first stores something else (a
   * subscription, a spill) or hibernationGuardMs after CONNECT, by the alarm
   * (BrokerEngine.saveOpenedSession): until the shard may hibernate nothing
   * reads the row, and a socket lost with the whole instance takes such a
   * session with it, so most short connections never write one.
   */
  rowStored = false;
  /**
   * Retained look-ups on other shards for this connection's new
   * subscriptions (RetainedMessages.sendRetained), each with the topics
   * delivered live since it began: such a retained message is older than
   * what was delivered, so it is not sent after it. Null while none is on
   * its way.
   */
  private retainedLookups: Set<Set<string>> | null = null;
  private nextPacketId = 1;
  private nextOutboundSeq = 1;

  constructor(public record: SessionRecord) {}

  /** A retained look-up on another shard began: the topics delivered live until it ends are noted in the set returned. */
  startRetainedLookup(): ReadonlySet<string> {
    const live = new Set<string>();
    (this.retainedLookups ??= new Set()).add(live);
    return live;
  }

  endRetainedLookup(live: ReadonlySet<string>): void {
    this.retainedLookups?.delete(live as Set<string>);
    if (this.retainedLookups?.size === 0) this.retainedLookups = null;
  }

  /** The connection ended: what its look-ups bring is not sent (sendRetained checks the connection), so nothing more is noted for them. */
  forgetRetainedLookups(): void {
    this.retainedLookups = null;
  }

  get awaitsRetained(): boolean {
    return this.retainedLookups !== null;
  }

  /** A message reached this session live: noted for each retained look-up on its way, at most LIVE_TOPICS_NOTED topics each. */
  deliveredLive(topic: string): void {
    if (!this.retainedLookups) return;
    for (const live of this.retainedLookups) if (live.size < LIVE_TOPICS_NOTED) live.add(topic);
  }

  get clientId(): string {
    return this.record.clientId;
  }

  get protocolVersion(): ProtocolVersion {
    return this.record.protocolVersion;
  }

  /** A session that outlives its connection keeps its queue and in-flight state durable. */
  get persistent(): boolean {
    return this.record.expiryInterval > 0;
  }

  /** Its queue, in-flight and QoS 2 receive state live in the store, not in memory alone. */
  get storesDeliveryState(): boolean {
    return this.spilled || this.persistent;
  }

  /** Something a client must still acknowledge or complete, in either direction. */
  holdsDeliveryState(): boolean {
    return this.outbound.size > 0 || this.queueLength() > 0 || this.inboundQos2.size > 0;
  }

  get will(): WillRecord | null {
    return this.record.will;
  }

  queueLength(): number {
    return this.storesDeliveryState ? this.storedQueueLength : this.memoryQueue.length;
  }

  expiresAt(): number | null {
    const { disconnectedAt, expiryInterval } = this.record;
    if (this.connectionId !== null || disconnectedAt === null) return null;
    if (expiryInterval === SESSION_NEVER_EXPIRES) return null;
    return disconnectedAt + expiryInterval * 1000;
  }

  /** Its Session Expiry Interval has passed since its connection ended. */
  hasExpired(now: number): boolean {
    const expiresAt = this.expiresAt();
    return expiresAt !== null && expiresAt <= now;
  }

  /** Next free packet identifier for a server-to-client flow [MQTT-2.2.1-3]. */
  allocatePacketId(): number | null {
    if (this.outbound.size >= 65_535) return null;
    for (let i = 0; i < 65_535; i++) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 65_535 ? 1 : id + 1;
      if (!this.outbound.has(id)) return id;
    }
    return null;
  }

  nextSeq(): number {
    return this.nextOutboundSeq++;
  }

  adoptOutbound(records: OutboundRecord[]): void {
    for (const r of records) {
      this.outbound.set(r.packetId, r);
      if (r.seq >= this.nextOutboundSeq) this.nextOutboundSeq = r.seq + 1;
    }
  }
}
