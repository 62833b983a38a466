import type { IPubackPacket, IPubcompPacket, IPubrecPacket } from 'mqtt-packet';
import type { EngineApi } from '../engine/engine-api';
import type { Connection } from '../engine/connection';
import type { Session } from '../engine/session';
import { RC } from '../reason-codes';

/** Acknowledgements of server-to-client QoS 1/2 flows. Each frees a slot in the client's window. */

export function handlePuback(engine: EngineApi, conn: Connection, session: Session, packet: IPubackPacket): void {
  engine.ensureLoaded(session);
  const record = session.outbound.get(packet.messageId!);
  if (record && record.delivery.qos !== 1) return refuseWrongAck(engine, conn, `PUBACK for a QoS ${record.delivery.qos} delivery`);
  if (!record || record.state !== 'publish') return;
  complete(engine, conn, session, packet.messageId!);
}

export function handlePubrec(engine: EngineApi, conn: Connection, session: Session, packet: IPubrecPacket): void {
  engine.ensureLoaded(session);
  const id = packet.messageId!;
  const record = session.outbound.get(id);
  if (record && record.delivery.qos !== 2) return refuseWrongAck(engine, conn, `PUBREC for a QoS ${record.delivery.qos} delivery`);
  if (!record) {
    if (conn.protocolVersion === 5) engine.send(conn, { cmd: 'pubrel', messageId: id, reasonCode: RC.PACKET_IDENTIFIER_NOT_FOUND });
    else engine.send(conn, { cmd: 'pubrel', messageId: id });
    return;
  }
  if ((packet.reasonCode ?? 0) >= 0x80) {
    // The receiver refused the message: the flow ends here [MQTT-4.3.3-4 note].
    complete(engine, conn, session, id);
    return;
  }
  // Progress: this subscriber is reading and acknowledging, so it is not stuck.
  session.lastProgressAt = engine.clock.now();
  engine.awaitPubcomp(session, record);
  engine.send(conn, { cmd: 'pubrel', messageId: id });
}

export function handlePubcomp(engine: EngineApi, conn: Connection, session: Session, packet: IPubcompPacket): void {
  engine.ensureLoaded(session);
  const record = session.outbound.get(packet.messageId!);
  if (record && record.delivery.qos !== 2) return refuseWrongAck(engine, conn, `PUBCOMP for a QoS ${record.delivery.qos} delivery`);
  // PUBCOMP answers the PUBREL that follows the client's PUBREC: [MQTT-4.3.3-11] in 5.0, [MQTT-4.3.3-2] in 3.1.1.
  // One for a delivery it has not PUBRECed yet skips a step of the flow.
  if (record?.state === 'publish') return refuseWrongAck(engine, conn, 'PUBCOMP before PUBREC');
  if (!record) return;
  complete(engine, conn, session, packet.messageId!);
}

/**
 * A QoS 1 delivery is answered with PUBACK, a QoS 2 delivery with PUBREC
 * then PUBCOMP: [MQTT-4.3.2-2] and [MQTT-4.3.3-2] in 3.1.1, [MQTT-4.3.2-4] and
 * [MQTT-4.3.3-10] in 5.0. The other kind for an identifier in
 * flight, or a PUBCOMP before the PUBREC, is a protocol violation: 3.1.1 closes [MQTT-4.8.0-1], 5.0 sends
 * DISCONNECT 0x82 first [MQTT-4.13.1-1]. The delivery stays unacknowledged and
 * is sent again when the client reconnects.
 */
function refuseWrongAck(engine: EngineApi, conn: Connection, what: string): void {
  engine.disconnect(conn, RC.PROTOCOL_ERROR, what);
}

/** The flow is done: its slot refills from the queue, and publishers waiting for this subscriber may go on. */
function complete(engine: EngineApi, conn: Connection, session: Session, packetId: number): void {
  engine.completeOutbound(conn, session, packetId);
}
