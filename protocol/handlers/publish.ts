import type { IPublishPacket, IPubrelPacket } from 'mqtt-packet';
import type { BrokerEngine } from '../engine/broker-engine';
import type { Connection } from '../engine/connection';
import type { Session } from '../engine/session';
import { RC } from '../reason-codes';
import type { BrokerMessage, MessageProperties } from '../store/records';
import { validateTopicName } from '../topics/validate';
import { isValidUtf8 } from './utf8';

/**
 * Inbound PUBLISH: checkRate, resolveTopicAlias, validateTopic, checkPayloadFormat,
 * dedupeQos2, checkReceiveMaximum, authorize (disconnecting repeat offenders),
 * accept (retain + route), acknowledge.
 * The acknowledgement is sent only after the message is durably routed, so a
 * PUBACK/PUBREC is a promise the broker can keep across eviction.
 */
export function handlePublish(engine: BrokerEngine, conn: Connection, session: Session, packet: IPublishPacket, now: number): void {
  const v5 = conn.protocolVersion === 5;
  engine.counters.publishReceived++;

  if (!withinRate(engine, conn, now)) {
    // 0x96 in 5.0 (a DISCONNECT the client can read); 3.1.1 has no server DISCONNECT, so the connection closes.
    engine.disconnect(conn, RC.MESSAGE_RATE_TOO_HIGH, `more than ${engine.config.maxPublishRate} PUBLISH per second`);
    return;
  }

  const topic = resolveTopicAlias(engine, conn, packet);
  if (topic === null) return;

  const problem = validateTopicName(topic, { maxLength: engine.config.maxTopicLength, maxLevels: engine.config.maxTopicLevels });
  if (problem !== null) {
    // An invalid topic name is a protocol violation [MQTT-3.3.2-2]: 0x90 in 5.0, close in 3.1.1.
    engine.disconnect(conn, RC.TOPIC_NAME_INVALID, `topic name invalid: ${problem}`);
    return;
  }

  const payload = new Uint8Array(packet.payload as Uint8Array);
  const props = v5 ? packet.properties ?? {} : {};
  if (props.payloadFormatIndicator && !isValidUtf8(payload)) {
    if (packet.qos === 0) {
      engine.disconnect(conn, RC.PAYLOAD_FORMAT_INVALID, 'payload is not valid UTF-8');
    } else {
      acknowledge(engine, conn, packet, RC.PAYLOAD_FORMAT_INVALID);
    }
    return;
  }

  if (packet.qos === 2) {
    engine.ensureLoaded(session);
    if (session.inboundQos2.has(packet.messageId!)) {
      // A retransmission of a message we already own: acknowledge again, deliver once [MQTT-4.3.3-10].
      acknowledge(engine, conn, packet, RC.SUCCESS);
      return;
    }
    if (session.inboundQos2.size >= engine.config.receiveMaximum) {
      // More unacknowledged QoS 2 than our Receive Maximum [MQTT-3.3.4-7].
      engine.disconnect(conn, RC.RECEIVE_MAXIMUM_EXCEEDED, 'receive maximum exceeded');
      return;
    }
  }

  const principal = { clientId: session.clientId, username: session.record.username };
  // Clients may not inject broker statistics: $SYS is written by the broker only.
  const allowed = !topic.startsWith('$SYS') && engine.authorizer.canPublish(principal, topic);
  if (!allowed) {
    // 5.0 says why; 3.1.1 drops the message and still acknowledges it.
    if (packet.qos > 0) acknowledge(engine, conn, packet, v5 ? RC.NOT_AUTHORIZED : RC.SUCCESS);
    disconnectRepeatOffender(engine, conn);
    return;
  }

  const properties: MessageProperties = {};
  if (props.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = props.payloadFormatIndicator;
  if (props.contentType !== undefined) properties.contentType = props.contentType;
  if (props.responseTopic !== undefined) properties.responseTopic = props.responseTopic;
  if (props.correlationData !== undefined) properties.correlationData = new Uint8Array(props.correlationData);
  if (props.userProperties !== undefined) properties.userProperties = props.userProperties;
  const message: BrokerMessage = {
    topic,
    payload,
    qos: packet.qos,
    retain: packet.retain,
    properties,
    expiresAt: props.messageExpiryInterval !== undefined ? now + props.messageExpiryInterval * 1000 : null,
    origin: session.clientId,
    createdAt: now,
  };
  const deliveries = engine.acceptMessage(message, now);

  if (packet.qos === 2) {
    session.inboundQos2.add(packet.messageId!);
    if (session.persistent) engine.store.saveInboundQos2(session.clientId, packet.messageId!);
  }
  if (packet.qos > 0) acknowledge(engine, conn, packet, deliveries === 0 && v5 ? RC.NO_MATCHING_SUBSCRIBERS : RC.SUCCESS);
}

/** Ends a connection whose denied publishes reached the configured limit: DISCONNECT 0x87 in 5.0, a close in 3.1.1. */
function disconnectRepeatOffender(engine: BrokerEngine, conn: Connection): void {
  const limit = engine.config.aclDenialsBeforeDisconnect;
  if (!limit) return;
  const denials = (engine.aclDenials.get(conn) ?? 0) + 1;
  engine.aclDenials.set(conn, denials);
  if (denials >= limit) engine.disconnect(conn, RC.NOT_AUTHORIZED, `${denials} publishes denied by topic ACLs`);
}

/**
 * Token bucket over maxPublishRate: a connection may send that many PUBLISHes
 * in a burst and that many per second after it. A flooding client is cut off
 * instead of keeping the shard busy ahead of everyone else's packets.
 */
function withinRate(engine: BrokerEngine, conn: Connection, now: number): boolean {
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

function acknowledge(engine: BrokerEngine, conn: Connection, packet: IPublishPacket, reasonCode: number): void {
  const cmd = packet.qos === 1 ? 'puback' : 'pubrec';
  if (conn.protocolVersion === 5) engine.send(conn, { cmd, messageId: packet.messageId, reasonCode });
  else engine.send(conn, { cmd, messageId: packet.messageId });
}

/** Client-to-server Topic Alias [MQTT-3.3.2-7 .. -12]. Returns null when the connection was closed. */
function resolveTopicAlias(engine: BrokerEngine, conn: Connection, packet: IPublishPacket): string | null {
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
  if (conn.inboundTopicAliases.get(alias) !== packet.topic) {
    conn.inboundTopicAliases.set(alias, packet.topic);
    engine.store.saveTopicAlias(conn.id, alias, packet.topic);
  }
  return packet.topic;
}

/** PUBREL completes an inbound QoS 2 flow: forget the packet id, answer PUBCOMP [MQTT-4.3.3-11]. */
export function handlePubrel(engine: BrokerEngine, conn: Connection, session: Session, packet: IPubrelPacket): void {
  engine.ensureLoaded(session);
  const id = packet.messageId!;
  const known = session.inboundQos2.delete(id);
  if (known && session.persistent) engine.store.deleteInboundQos2(session.clientId, id);
  if (conn.protocolVersion === 5) {
    engine.send(conn, { cmd: 'pubcomp', messageId: id, reasonCode: known ? RC.SUCCESS : RC.PACKET_IDENTIFIER_NOT_FOUND });
  } else {
    engine.send(conn, { cmd: 'pubcomp', messageId: id });
  }
}
