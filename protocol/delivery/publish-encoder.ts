import { Buffer } from 'node:buffer';
import type { IPublishPacket } from 'mqtt-packet';
import { encodePacket } from '../codec/encode';
import type { Connection } from '../engine/connection';
import type { BrokerMessage, Delivery } from '../store/records';

/**
 * Turns a delivery into PUBLISH bytes for one connection. A PUBLISH without a
 * packet identifier or subscription identifiers is the same bytes for every
 * subscriber on the same protocol (3.1 and 3.1.1 share one layout), so a
 * fan-out encodes it once: the last such PUBLISH is kept.
 */
export class PublishEncoder {
  private lastShared: { message: BrokerMessage; key: string; bytes: Uint8Array } | null = null;

  encodePublish(conn: Connection, delivery: Delivery, packetId: number | null, dup: boolean, expiry: number | undefined): Uint8Array {
    const shareable = packetId === null && delivery.subscriptionIds.length === 0;
    const key = shareable ? `${conn.protocolVersion === 5 ? 5 : 4}|${delivery.qos}|${delivery.retain}|${dup}|${expiry}` : '';
    const cached = this.lastShared;
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
    const bytes = encodePacket(packet, conn.protocolVersion ?? 4);
    if (shareable) this.lastShared = { message, key, bytes };
    return bytes;
  }
}
