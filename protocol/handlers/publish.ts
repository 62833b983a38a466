import { Buffer } from 'node:buffer';
import type { IPublishPacket, IPubrelPacket } from 'mqtt-packet';
import type { EngineApi, Routed } from '../engine/engine-api';
import type { Connection } from '../engine/connection';
import type { Session } from '../engine/session';
import { isAckOwed, oweAck } from '../engine/flow-control';
import { RC } from '../reason-codes';
import type { BrokerMessage, MessageProperties } from '../store/records';
import { validateTopicName } from '../topics/validate';
import { isValidUtf8 } from './utf8';
import { isPublish311Qos0AsEncoded } from '../codec/encode';
import { TOPIC_MEMO_MAX_BYTES } from '../codec/topic-memo';

/**
 * Inbound PUBLISH, in these steps: checkRate, resolveTopicAlias,
 * validateTopic, checkPayloadFormat, dedupeQos2, checkReceiveMaximum,
 * authorize (disconnecting repeat offenders), accept (retain + route),
 * acknowledgeOrWithhold.
 * The acknowledgement is sent only after the message is durably routed, so a
 * PUBACK/PUBREC is a promise the broker can keep across eviction; while a
 * recipient is behind it waits, which is how publishers are slowed.
 */
export function handlePublish(engine: EngineApi, conn: Connection, session: Session, packet: IPublishPacket, raw: Uint8Array, now: number): void {
  engine.countPublishReceived();
  if (!checkRate(engine, conn, now)) return;
  const topic = resolveTopicAlias(engine, conn, packet);
  if (topic === null) return;
  if (!validateTopic(engine, conn, topic)) return;
  if (!checkPayloadFormat(engine, conn, packet)) return;
  if (!dedupeQos2(engine, conn, session, packet)) return;
  if (!checkReceiveMaximum(engine, conn, session, packet)) return;
  if (!authorize(engine, conn, session, packet, topic)) return;
  const routed = accept(engine, conn, session, packet, raw, topic, now);
  acknowledgeOrWithhold(engine, conn, packet, routed);
}

function checkRate(engine: EngineApi, conn: Connection, now: number): boolean {
  if (withinRate(engine, conn, now)) return true;
  // 0x96 in 5.0 (a DISCONNECT the client can read); 3.1.1 has no server DISCONNECT, so the connection closes.
  engine.disconnect(conn, RC.MESSAGE_RATE_TOO_HIGH, `more than ${engine.config.maxPublishRate} PUBLISH per second`);
  return false;
}

function validateTopic(engine: EngineApi, conn: Connection, topic: string): boolean {
  // This client's last valid topic again (from a 3.1/3.1.1 client, usually the very same string: TopicMemo); the limits never change.
  if (topic === conn.validTopic) return true;
  const problem = validateTopicName(topic, { maxLength: engine.config.maxTopicLength, maxLevels: engine.config.maxTopicLevels });
  if (problem === null) {
    // Kept only as short as the memo's topics, so no connection holds a long topic that no limit counts.
    if (topic.length <= TOPIC_MEMO_MAX_BYTES) conn.validTopic = topic;
    return true;
  }
  // An invalid topic name is a protocol violation [MQTT-3.3.2-2]: 0x90 in 5.0, close in 3.1.1.
  engine.disconnect(conn, RC.TOPIC_NAME_INVALID, `topic name invalid: ${problem}`);
  return false;
}

/** A payload that claims to be UTF-8 must be [MQTT-3.3.2-4 (5.0)]: refused with 0x99, or a DISCONNECT at QoS 0. */
function checkPayloadFormat(engine: EngineApi, conn: Connection, packet: IPublishPacket): boolean {
  if (conn.protocolVersion !== 5 || !packet.properties?.payloadFormatIndicator) return true;
  if (isValidUtf8(packet.payload as Uint8Array)) return true;
  if (packet.qos === 0) engine.disconnect(conn, RC.PAYLOAD_FORMAT_INVALID, 'payload is not valid UTF-8');
  else oweAck(engine, conn, packet.messageId!, packet.qos, RC.PAYLOAD_FORMAT_INVALID, NO_ONE);
  return false;
}

/** A retransmission of a QoS 2 message we already own: acknowledge again, deliver once [MQTT-4.3.3-10]. */
function dedupeQos2(engine: EngineApi, conn: Connection, session: Session, packet: IPublishPacket): boolean {
  if (packet.qos !== 2) return true;
  engine.ensureLoaded(session);
  const id = packet.messageId!;
  if (!session.inboundQos2.has(id)) return true;
  // Its PUBREC may still be withheld: it leaves once, in order.
  if (!isAckOwed(conn, id, 2)) oweAck(engine, conn, id, 2, RC.SUCCESS, NO_ONE);
  return false;
}

/**
 * Unacknowledged inbound QoS 1 and 2 (withheld PUBACKs, open QoS 2 flows)
 * may not exceed our Receive Maximum [MQTT-3.3.4-7]; DISCONNECT 0x93 in 5.0.
 * 3.1.1 cannot announce a limit, so the same number applies and the
 * connection closes: it can only be reached while acks are being withheld.
 */
function checkReceiveMaximum(engine: EngineApi, conn: Connection, session: Session, packet: IPublishPacket): boolean {
  if (packet.qos === 0) return true;
  engine.ensureLoaded(session);
  if (conn.owedQos1 + session.inboundQos2.size < engine.config.receiveMaximum) return true;
  engine.disconnect(conn, RC.RECEIVE_MAXIMUM_EXCEEDED, 'receive maximum exceeded');
  return false;
}

function authorize(engine: EngineApi, conn: Connection, session: Session, packet: IPublishPacket, topic: string): boolean {
  const principal = { clientId: session.clientId, username: session.record.username };
  // Clients may not inject broker statistics: $SYS is written by the broker only.
  if (!topic.startsWith('$SYS') && engine.authorizer.canPublish(principal, topic)) return true;
  // 5.0 says why; 3.1.1 drops the message and still acknowledges it.
  if (packet.qos > 0) oweAck(engine, conn, packet.messageId!, packet.qos as 1 | 2, conn.protocolVersion === 5 ? RC.NOT_AUTHORIZED : RC.SUCCESS, NO_ONE);
  disconnectRepeatOffender(engine, conn);
  return false;
}

/** The broker takes the message: retained, routed (queued durably for persistent sessions), QoS 2 receipt recorded. */
function accept(engine: EngineApi, conn: Connection, session: Session, packet: IPublishPacket, raw: Uint8Array, topic: string, now: number): Routed {
  const props = conn.protocolVersion === 5 ? packet.properties ?? {} : {};
  const properties: MessageProperties = {};
  if (props.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = props.payloadFormatIndicator;
  if (props.contentType !== undefined) properties.contentType = props.contentType;
  if (props.responseTopic !== undefined) properties.responseTopic = props.responseTopic;
  if (props.correlationData !== undefined) properties.correlationData = new Uint8Array(props.correlationData);
  // The decoder keeps user properties in a prototype-less object (a `__proto__` key stays a key); a plain copy can travel to other shards.
  if (props.userProperties !== undefined) properties.userProperties = { ...props.userProperties };
  const message: BrokerMessage = {
    topic,
    payload: ownBytes(packet.payload as Uint8Array),
    qos: packet.qos,
    retain: packet.retain,
    properties,
    expiresAt: props.messageExpiryInterval !== undefined ? now + props.messageExpiryInterval * 1000 : null,
    origin: session.clientId,
    createdAt: now,
  };
  // The bytes that arrived are what 3.1/3.1.1 subscribers get live at QoS 0: forwarded as they are, as a relay would.
  const asReceived = conn.protocolVersion !== 5 && isPublish311Qos0AsEncoded(raw, topic) ? raw : undefined;
  const routed = engine.acceptMessage(message, now, asReceived);
  if (packet.qos === 2) engine.recordInboundQos2(session, packet.messageId!);
  return routed;
}

/**
 * A message's payload may keep alive at most this many bytes of its frame
 * beyond itself: a packet header and a topic of ordinary length.
 */
const MAX_PINNED_BYTES = 256;

/**
 * The payload as the message keeps it: always a plain Uint8Array. The
 * decoder gives a view of the bytes that arrived (BrokerEngine.receive: they
 * are not written again). A view of a frame that holds at most
 * MAX_PINNED_BYTES beyond the payload is kept, as a copy would cost an
 * allocation per message; any other (a frame of several packets) is copied,
 * so a message waiting in a queue keeps alive at most those few bytes that
 * the queue's bounds do not count.
 */
function ownBytes(payload: Uint8Array): Uint8Array {
  if (payload.buffer.byteLength - payload.byteLength > MAX_PINNED_BYTES) return new Uint8Array(payload);
  // The general parser's payload is a Buffer view: the message keeps the same bytes as a plain view.
  return Buffer.isBuffer(payload) ? new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength) : payload;
}

/** PUBACK/PUBREC now, or once the recipients that are behind catch up; always in arrival order (flow-control.ts). */
function acknowledgeOrWithhold(engine: EngineApi, conn: Connection, packet: IPublishPacket, routed: Routed): void {
  if (packet.qos === 0) return;
  const reasonCode = routed.deliveries === 0 && conn.protocolVersion === 5 ? RC.NO_MATCHING_SUBSCRIBERS : RC.SUCCESS;
  oweAck(engine, conn, packet.messageId!, packet.qos, reasonCode, routed.behind);
}

const NO_ONE: readonly Session[] = [];

/** Ends a connection whose denied publishes reached the configured limit: DISCONNECT 0x87 in 5.0, a close in 3.1.1. */
function disconnectRepeatOffender(engine: EngineApi, conn: Connection): void {
  const limit = engine.config.aclDenialsBeforeDisconnect;
  if (!limit) return;
  const denials = engine.countAclDenial(conn);
  if (denials >= limit) engine.disconnect(conn, RC.NOT_AUTHORIZED, `${denials} publishes denied by topic ACLs`);
}

/**
 * Token bucket over maxPublishRate: a connection may send that many PUBLISHes
 * in a burst and that many per second after it. A flooding client is cut off
 * instead of keeping the shard busy ahead of everyone else's packets.
 */
function withinRate(engine: EngineApi, conn: Connection, now: number): boolean {
  const rate = engine.config.maxPublishRate;
  if (rate === 0) return true;
  if (conn.publishTokensAt < 0) {
    conn.publishTokens = rate;
  } else if (now > conn.publishTokensAt) {
    conn.publishTokens = Math.min(rate, conn.publishTokens + ((now - conn.publishTokensAt) * rate) / 1000);
  }
  conn.publishTokensAt = Math.max(conn.publishTokensAt, now);
  if (conn.publishTokens < 1) return false;
  conn.publishTokens -= 1;
  return true;
}

/** Client-to-server Topic Alias [MQTT-3.3.2-7 .. -12]. Returns null when the connection was closed. */
function resolveTopicAlias(engine: EngineApi, conn: Connection, packet: IPublishPacket): string | null {
  const alias = conn.protocolVersion === 5 ? packet.properties?.topicAlias : undefined;
  if (alias === undefined) {
    if (packet.topic === '') {
      engine.disconnect(conn, RC.PROTOCOL_ERROR, 'empty topic without a topic alias');
      return null;
    }
    return packet.topic;
  }
  if (alias === 0 || alias > engine.config.topicAliasMaximum) {
    engine.disconnect(conn, RC.TOPIC_ALIAS_INVALID, 'topic alias out of range');
    return null;
  }
  if (packet.topic === '') {
    const known = conn.inboundTopicAliases.get(alias);
    if (known === undefined) {
      engine.disconnect(conn, RC.PROTOCOL_ERROR, 'unknown topic alias');
      return null;
    }
    return known;
  }
  if (conn.inboundTopicAliases.get(alias) !== packet.topic) engine.saveTopicAlias(conn, alias, packet.topic);
  return packet.topic;
}

/** PUBREL completes an inbound QoS 2 flow: forget the packet id, answer PUBCOMP [MQTT-4.3.3-11]. */
export function handlePubrel(engine: EngineApi, conn: Connection, session: Session, packet: IPubrelPacket): void {
  engine.ensureLoaded(session);
  const id = packet.messageId!;
  const known = engine.forgetInboundQos2(session, id);
  if (conn.protocolVersion === 5) {
    engine.send(conn, { cmd: 'pubcomp', messageId: id, reasonCode: known ? RC.SUCCESS : RC.PACKET_IDENTIFIER_NOT_FOUND });
  } else {
    engine.send(conn, { cmd: 'pubcomp', messageId: id });
  }
}
