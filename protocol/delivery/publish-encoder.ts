import { Buffer } from 'node:buffer';
import type { IPublishPacket } from 'mqtt-packet';
import { encodePacket, encodePublish311 } from '../codec/encode';
import type { Connection } from '../engine/connection';
import type { BrokerMessage, Delivery } from '../store/records';

/**
 * Turns a delivery into PUBLISH bytes for one connection. A PUBLISH without a
 * packet identifier or subscription identifiers is the same bytes for every
 * subscriber on the same protocol (3.1 and 3.1.1 share one layout), so a
 * fan-out encodes it once per layout: the last such PUBLISH of each is kept.
 */
export class PublishEncoder {
  /** The last shared PUBLISH in the 3.1/3.1.1 layout, and in 5.0's: a fan-out to both alternates between them. */
  private lastShared311: SharedEncoding | null = null;
  private lastShared5: SharedEncoding | null = null;

  /**
   * `bytes` are what encodePublish would write for `message` to a 3.1/3.1.1
   * subscriber at QoS 0, live (no retain flag, no DUP, no expiry, which
   * 3.1.1 messages do not have): its PUBLISH as it arrived, checked by
   * isPublish311Qos0AsEncoded. They become the shared encoding, so the
   * message's routing writes nothing for those subscribers.
   */
  adopt(message: BrokerMessage, bytes: Uint8Array): void {
    this.lastShared311 = { message, qos: 0, retain: false, dup: false, expiry: undefined, bytes };
  }

  encodePublish(conn: Connection, delivery: Delivery, packetId: number | null, dup: boolean, expiry: number | undefined): Uint8Array {
    const shareable = packetId === null && delivery.subscriptionIds.length === 0;
    const layout = conn.protocolVersion === 5 ? 5 : 4;
    const { message, qos, retain } = delivery;
    const cached = layout === 5 ? this.lastShared5 : this.lastShared311;
    if (
      shareable &&
      cached !== null &&
      cached.message === message &&
      cached.qos === qos &&
      cached.retain === retain &&
      cached.dup === dup &&
      cached.expiry === expiry
    ) {
      return cached.bytes;
    }
    const bytes = layout === 5 ? this.encodePublish5(delivery, packetId, dup, expiry) : this.encodePublish311(delivery, packetId, dup);
    if (shareable) {
      const encoding: SharedEncoding = { message, qos, retain, dup, expiry, bytes };
      if (layout === 5) this.lastShared5 = encoding;
      else this.lastShared311 = encoding;
    }
    return bytes;
  }

  private encodePublish311(delivery: Delivery, packetId: number | null, dup: boolean): Uint8Array {
    const { message } = delivery;
    // The general encoder below refuses what this cannot write (an empty or oversized topic), with its reason.
    return (
      encodePublish311(message.topic, message.payload, delivery.qos, delivery.retain, dup, packetId ?? undefined) ??
      encodePacket(this.packetOf(delivery, packetId, dup), 4)
    );
  }

  private encodePublish5(delivery: Delivery, packetId: number | null, dup: boolean, expiry: number | undefined): Uint8Array {
    const { message } = delivery;
    const packet = this.packetOf(delivery, packetId, dup);
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
    return encodePacket(packet, 5);
  }

  private packetOf(delivery: Delivery, packetId: number | null, dup: boolean): IPublishPacket {
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
    return packet;
  }
}

/** The PUBLISH bytes of one message in one layout, and what they depend on besides it: the fixed header's flags and the expiry they carry. */
interface SharedEncoding {
  message: BrokerMessage;
  qos: number;
  retain: boolean;
  dup: boolean;
  expiry: number | undefined;
  bytes: Uint8Array;
}
