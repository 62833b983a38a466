/**
 * Backpressure through withheld acknowledgements (HiveMQ's overload
 * protection, in MQTT's own terms). A Durable Object cannot stop reading a
 * socket, but every compliant publisher stops at the server's Receive
 * Maximum of unacknowledged QoS 1/2 PUBLISHes [MQTT-3.3.4-7]. So while a
 * healthy recipient of a message is behind, the publisher's PUBACK/PUBREC
 * waits; the message itself is already routed and, for persistent
 * sessions, durable. Withholding is flow control, not durability.
 *
 * Acknowledgements leave each connection in the order the PUBLISHes
 * arrived: once one waits, every later one (even one owed nothing) queues
 * behind it.
 */
import type { EngineApi } from './engine-api';
import type { Connection } from './connection';
import type { AckHolder, OwedAck } from './owed-ack';

/** Queues the acknowledgement of an inbound QoS 1/2 PUBLISH behind the recipients still catching up, then sends what may go. */
export function oweAck(engine: EngineApi, conn: Connection, packetId: number, qos: 1 | 2, reasonCode: number, behind: readonly AckHolder[]): void {
  if (behind.length === 0 && conn.owedAcks.length === 0) {
    sendPublishAck(engine, conn, qos, packetId, reasonCode);
    return;
  }
  const owed: OwedAck = { connectionId: conn.id, packetId, qos, reasonCode, waitingOn: new Set(behind) };
  for (const recipient of behind) {
    recipient.heldAcks.add(owed);
    wakeWhileHeld(engine, recipient);
  }
  conn.owedAcks.push(owed);
  if (qos === 1) conn.owedQos1++;
  flushOwedAcks(engine, conn);
}

/** True while this connection's PUBREC for a QoS 2 packet identifier is still being withheld. */
export function isAckOwed(conn: Connection, packetId: number, qos: 1 | 2): boolean {
  return conn.owedAcks.some((a) => a.packetId === packetId && a.qos === qos);
}

/** The recipient no longer holds anyone back (caught up, stuck, gone): its held acks go, in each publisher's order. */
export function releaseHeldAcks(engine: EngineApi, recipient: AckHolder): void {
  if (recipient.heldAcks.size === 0) return;
  const publishers = new Set<string>();
  for (const owed of recipient.heldAcks) {
    owed.waitingOn.delete(recipient);
    if (owed.waitingOn.size > 0) continue;
    if (owed.connectionId !== null) publishers.add(owed.connectionId);
    else owed.released?.();
  }
  recipient.heldAcks.clear();
  for (const id of publishers) {
    // A publisher whose connection ended was forgotten (forgetOwedAcks): nothing is owed to it.
    const conn = engine.findConnection(id);
    if (conn) flushOwedAcks(engine, conn);
  }
}

/**
 * Another shard's message was put in front of recipients here that are
 * behind: it is held for them exactly as a local publisher's PUBACK would
 * be, and the sending shard withholds its publisher's ack until it is
 * released (protocol/cluster/cluster-node.ts), so publishers are slowed
 * across shards too.
 */
export function whenCaughtUp(engine: EngineApi, behind: readonly AckHolder[]): Promise<void> {
  return new Promise((resolve) => {
    const owed: OwedAck = { connectionId: null, packetId: 0, qos: 1, reasonCode: 0, waitingOn: new Set(behind), released: resolve };
    for (const recipient of behind) {
      recipient.heldAcks.add(owed);
      wakeWhileHeld(engine, recipient);
    }
  });
}

/**
 * When the alarm must look at a session that holds acknowledgements: when it
 * would be judged stuck, which releases them, and no later than
 * hibernationGuardMs. Withheld acks live in memory, and a publisher whose
 * PUBACK a hibernated shard forgot waits on its open connection for good; an
 * alarm that often keeps the shard from hibernating while it holds any
 * (BrokerEngine.recomputeWake re-arms it with this).
 */
export function heldAcksDueAt(engine: Pick<EngineApi, 'config' | 'clock'>, lastProgressAt: number): number {
  return Math.min(lastProgressAt + engine.config.stuckSubscriberMs, engine.clock.now() + engine.config.hibernationGuardMs);
}

function wakeWhileHeld(engine: EngineApi, recipient: AckHolder): void {
  // A link to another shard has no progress of its own: its retries keep their own timer (cluster-node.ts).
  if (recipient.lastProgressAt !== undefined) engine.scheduleWake(heldAcksDueAt(engine, recipient.lastProgressAt));
}

/** The publisher's connection ended: nothing is owed to it any more, and no recipient keeps a reference to it. */
export function forgetOwedAcks(conn: Connection): void {
  for (const owed of conn.owedAcks) for (const recipient of owed.waitingOn) recipient.heldAcks.delete(owed);
  conn.owedAcks = [];
  conn.owedQos1 = 0;
}

function flushOwedAcks(engine: EngineApi, conn: Connection): void {
  let sent = 0;
  let pubrecs = false;
  while (sent < conn.owedAcks.length && conn.owedAcks[sent].waitingOn.size === 0) {
    const owed = conn.owedAcks[sent++];
    if (owed.qos === 1) conn.owedQos1--;
    else pubrecs = true;
    sendPublishAck(engine, conn, owed.qos, owed.packetId, owed.reasonCode);
  }
  if (sent > 0) {
    conn.owedAcks.splice(0, sent);
    engine.acknowledgementsSent(conn, pubrecs);
  }
}

/** PUBACK for QoS 1, PUBREC for QoS 2; reason codes exist in 5.0 only. */
export function sendPublishAck(engine: EngineApi, conn: Connection, qos: 1 | 2, packetId: number, reasonCode: number): void {
  const cmd = qos === 1 ? 'puback' : 'pubrec';
  if (conn.protocolVersion === 5) engine.send(conn, { cmd, messageId: packetId, reasonCode });
  else engine.send(conn, { cmd, messageId: packetId });
}
