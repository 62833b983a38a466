import { Buffer } from 'node:buffer';
import * as mqtt from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { fixedHeaderSize } from './fixed-header';

type Properties = Record<string, unknown>;

const BINARY_PROPERTIES = ['correlationData', 'authenticationData'] as const;

/**
 * mqtt-packet only copes with Buffers (a plain Uint8Array makes it throw a
 * TypeError deep inside), so byte fields are re-wrapped as Buffer views.
 */
function asBuffer<T>(value: T): T | Buffer {
  return value instanceof Uint8Array && !Buffer.isBuffer(value) ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : value;
}

function hasUserProperties(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    if (!Array.isArray(v) || v.length > 0) return true;
  }
  return false;
}

/**
 * Returns `properties` ready for mqtt-packet, copying only when something
 * must change. An empty User Property map would make it return an empty
 * buffer instead of a packet.
 */
function prepareProperties(properties: Properties | undefined): Properties | undefined {
  if (properties === undefined || properties === null) return properties;
  let copy: Properties | null = null;
  for (const name of BINARY_PROPERTIES) {
    const value = properties[name];
    const wrapped = asBuffer(value);
    if (wrapped !== value) (copy ??= { ...properties })[name] = wrapped;
  }
  if ('userProperties' in properties && !hasUserProperties(properties.userProperties)) {
    copy ??= { ...properties };
    delete copy.userProperties;
  }
  return copy ?? properties;
}

function checkPacketId(packet: { messageId?: number }): void {
  const id = packet.messageId;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > 0xffff) {
    throw new Error(`invalid packet identifier ${String(id)}`);
  }
}

/** A shallow copy where mqtt-packet needs different inputs; the caller's object is never modified. */
function prepare(packet: Packet): Packet {
  switch (packet.cmd) {
    case 'publish': {
      if (packet.qos > 0) checkPacketId(packet);
      const payload = asBuffer(packet.payload);
      const properties = prepareProperties(packet.properties);
      if (payload === packet.payload && properties === packet.properties) return packet;
      return { ...packet, payload, properties } as Packet;
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
    case 'subscribe':
    case 'suback':
    case 'unsubscribe':
    case 'unsuback':
      checkPacketId(packet);
      break;
    case 'connect': {
      const will = packet.will && {
        ...packet.will,
        payload: asBuffer(packet.will.payload),
        properties: prepareProperties(packet.will.properties),
      };
      return { ...packet, will, password: asBuffer(packet.password), properties: prepareProperties(packet.properties) } as Packet;
    }
    default:
      break;
  }
  const withProperties = packet as { properties?: Properties };
  const properties = prepareProperties(withProperties.properties);
  return properties === withProperties.properties ? packet : ({ ...packet, properties } as Packet);
}

/**
 * Serializes a packet for a connection of the given protocol version.
 * Throws on packet objects that cannot be encoded.
 */
const CONFIRMATIONS = new Set(['puback', 'pubrec', 'pubrel', 'pubcomp']);

export function encodePacket(packet: Packet, protocolVersion: 3 | 4 | 5): Uint8Array {
  if (protocolVersion !== 5) {
    const fast = encodeCommon(packet);
    if (fast !== null) return fast;
  }
  let prepared = prepare(packet);
  if (protocolVersion === 5 && CONFIRMATIONS.has(prepared.cmd) && (prepared as { reasonCode?: number }).reasonCode === undefined) {
    // A success acknowledgement goes out in the two-byte form the spec allows
    // [MQTT-3.4.2-1]; paho 1.6 accepts nothing longer for PUBREL. Without an
    // explicit 0, mqtt-packet writes a reason code and an empty property length.
    prepared = { ...prepared, reasonCode: 0 } as Packet;
  }
  const bytes = mqtt.generate(prepared, { protocolVersion });
  // mqtt-packet gives up on some invalid input (an oversized string, a
  // property it cannot size) by returning a short or empty buffer; catch that
  // here rather than put a corrupt packet on the wire.
  if (typeof fixedHeaderSize(bytes) === 'string') {
    throw new Error(`cannot encode ${packet.cmd}: invalid field values`);
  }
  return bytes;
}

// ----------------------------------------------------------------- the packets of every message

const ACK_TYPES: Record<string, number> = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 };
const MAX_TOPIC_BYTES = 0xffff;

/**
 * PUBLISH and its acknowledgements in 3.1/3.1.1, written directly, and CONNACK:
 * they are the packets of every message and every connection, and mqtt-packet's generator builds an event
 * emitter and a list of parts for each. The bytes are the same as
 * mqtt-packet's (checked in encode.test.ts); anything unusual (a string
 * payload, an empty or oversized topic) returns null and goes the general way.
 */
function encodeCommon(packet: Packet): Uint8Array | null {
  if (packet.cmd === 'publish') {
    const { topic, payload, qos } = packet;
    if (typeof topic !== 'string' || !(payload instanceof Uint8Array) || (qos !== 0 && qos !== 1 && qos !== 2)) return null;
    if (qos > 0) checkPacketId(packet);
    return encodePublish311(topic, payload, qos, packet.retain, packet.dup, packet.messageId);
  }
  if (packet.cmd === 'connack') {
    // Every device's answer at every reconnect; mqtt-packet's generator costs an emitter and a list of parts for four bytes.
    const rc = packet.returnCode;
    if (typeof rc !== 'number' || !Number.isInteger(rc) || rc < 0 || rc > 0xff) return null;
    return new Uint8Array([0x20, 0x02, packet.sessionPresent ? 0x01 : 0x00, rc]);
  }
  const type = ACK_TYPES[packet.cmd];
  if (type === undefined) return null;
  checkPacketId(packet as { messageId?: number });
  const id = (packet as { messageId: number }).messageId;
  return new Uint8Array([type, 0x02, id >> 8, id & 0xff]);
}

const utf8 = new TextEncoder();

/**
 * True when `raw`, a PUBLISH as it arrived, is byte for byte what
 * encodePublish311 writes for `topic` and the rest of `raw` as payload at
 * QoS 0 without retain or DUP: its first byte says so, its Remaining Length
 * takes the fewest bytes, and its topic field holds `topic`, in ASCII,
 * which the encoder writes as it is.
 */
export function isPublish311Qos0AsEncoded(raw: Uint8Array, topic: string): boolean {
  if (raw[0] !== 0x30) return false;
  // A number: exactly one packet, its Remaining Length in the fewest bytes.
  const headerBytes = fixedHeaderSize(raw);
  if (typeof headerBytes === 'string') return false;
  const topicAt = headerBytes + 2;
  if (topic.length === 0 || topicAt + topic.length > raw.length || ((raw[headerBytes] << 8) | raw[headerBytes + 1]) !== topic.length) return false;
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c > 0x7f || raw[topicAt + i] !== c) return false;
  }
  return true;
}

/** A fixed header's size for a Remaining Length, written in the fewest bytes [MQTT-1.5.5-1]. */
function headerBytesFor(remaining: number): number {
  return remaining < 0x80 ? 2 : remaining < 0x4000 ? 3 : remaining < 0x200000 ? 4 : 5;
}

/**
 * A 3.1/3.1.1 PUBLISH, the packet of every delivery, written into a plain
 * Uint8Array: the runtime's Buffer is JavaScript over it, and its
 * allocation, `byteLength` and `write` cost more per message than the rest of
 * the encoding. A topic is almost always ASCII, written as is; any other is
 * encoded once. Null when the topic is empty or too long for its length
 * field, which the general path then refuses as mqtt-packet does.
 */
export function encodePublish311(topic: string, payload: Uint8Array, qos: 0 | 1 | 2, retain: boolean, dup: boolean, messageId: number | undefined): Uint8Array | null {
  if (topic.length === 0) return null;
  let encodedTopic: Uint8Array | null = null;
  for (let i = 0; i < topic.length; i++) {
    if (topic.charCodeAt(i) > 0x7f) {
      encodedTopic = utf8.encode(topic);
      break;
    }
  }
  const topicBytes = encodedTopic === null ? topic.length : encodedTopic.byteLength;
  if (topicBytes > MAX_TOPIC_BYTES) return null;
  const remaining = 2 + topicBytes + (qos > 0 ? 2 : 0) + payload.byteLength;
  const headerBytes = headerBytesFor(remaining);
  const out = new Uint8Array(headerBytes + remaining);
  out[0] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0);
  let at = 1;
  let r = remaining;
  do {
    let b = r % 128;
    r = Math.floor(r / 128);
    if (r > 0) b |= 0x80;
    out[at++] = b;
  } while (r > 0);
  out[at++] = topicBytes >> 8;
  out[at++] = topicBytes & 0xff;
  if (encodedTopic === null) {
    for (let i = 0; i < topicBytes; i++) out[at++] = topic.charCodeAt(i);
  } else {
    out.set(encodedTopic, at);
    at += topicBytes;
  }
  if (qos > 0) {
    out[at++] = messageId! >> 8;
    out[at++] = messageId! & 0xff;
  }
  out.set(payload, at);
  return out;
}
