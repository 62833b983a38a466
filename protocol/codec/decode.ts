import { Buffer } from 'node:buffer';
import * as mqtt from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';

export type DecodeResult =
  | { ok: true; packet: Packet }
  | { ok: false; reasonCode: number; message: string; connectProtocolVersion?: number };

const MALFORMED = 0x81;
const PROTOCOL_ERROR = 0x82;
const UNSUPPORTED_PROTOCOL_VERSION = 0x84;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

type ParserInternals = ReturnType<typeof mqtt.parser> & {
  _list: { slice(start: number, end: number): Buffer; length: number };
  _pos: number;
  packet: { length: number };
  _parseNum(): number;
  _emitError(err: Error): void;
  _resetState(): void;
  _parseString: () => string | null;
};

/**
 * mqtt-packet decodes strings with Buffer#toString, which silently replaces
 * malformed bytes. Every MQTT UTF-8 string must be well-formed and free of
 * U+0000 [MQTT-1.5.4-1], [MQTT-1.5.4-2], so strings are decoded strictly here.
 */
function strictParseString(this: ParserInternals): string | null {
  const length = this._parseNum();
  const end = length + this._pos;
  if (length === -1 || end > this._list.length || end > this.packet.length) return null;
  let result: string;
  try {
    result = strictUtf8.decode(this._list.slice(this._pos, end));
  } catch {
    this._emitError(new Error('invalid UTF-8 in a string field'));
    return null;
  }
  if (result.includes('\u0000')) {
    this._emitError(new Error('U+0000 in a string field'));
    return null;
  }
  this._pos = end;
  return result;
}

interface StrictParser {
  parser: ParserInternals;
  packet: Packet | null;
  error: Error | null;
  endPos: number;
}

const parsers = new Map<number, StrictParser>();

function parserFor(version: 3 | 4 | 5): StrictParser {
  let entry = parsers.get(version);
  if (entry) return entry;
  const parser = mqtt.parser({ protocolVersion: version }) as ParserInternals;
  parser._parseString = strictParseString;
  const created: StrictParser = { parser, packet: null, error: null, endPos: 0 };
  parser.on('packet', (p: Packet) => {
    if (created.packet === null && created.error === null) {
      created.packet = p;
      created.endPos = parser._pos;
    }
  });
  parser.on('error', (e: Error) => {
    if (created.error === null) created.error = e;
  });
  parsers.set(version, created);
  return created;
}

function connectVersionByte(raw: Uint8Array): number | undefined {
  let i = 1;
  while (i < raw.length && raw[i] & 0x80) i++;
  i++;
  const nameLen = ((raw[i] ?? 0) << 8) | (raw[i + 1] ?? 0);
  return raw[i + 2 + nameLen];
}

/**
 * Decodes one complete packet (as cut by PacketFramer). `protocolVersion` is
 * the connection's version, or null before CONNECT: then only a CONNECT is
 * accepted and its own version is used.
 */
export function decodePacket(raw: Uint8Array, protocolVersion: 3 | 4 | 5 | null): DecodeResult {
  const type = raw[0] >> 4;
  let version: 3 | 4 | 5;
  if (protocolVersion === null) {
    if (type !== 1) return { ok: false, reasonCode: PROTOCOL_ERROR, message: 'the first packet must be CONNECT' }; // [MQTT-3.1.0-1]
    const v = connectVersionByte(raw);
    if (v !== 3 && v !== 4 && v !== 5 && v !== 0x83 && v !== 0x84) {
      return { ok: false, reasonCode: UNSUPPORTED_PROTOCOL_VERSION, message: `unsupported protocol level ${v}`, connectProtocolVersion: v };
    }
    version = (v & 0x7f) as 3 | 4 | 5;
  } else {
    version = protocolVersion;
  }
  const entry = parserFor(version);
  entry.packet = null;
  entry.error = null;
  try {
    entry.parser.parse(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
  } catch (err) {
    entry.error = err instanceof Error ? err : new Error(String(err));
  } finally {
    // Never let a half-parsed packet leak into the next call. _resetState
    // leaves the read position behind after an error, so reset it too.
    entry.parser._resetState();
    entry.parser._pos = 0;
  }
  if (entry.error || !entry.packet) {
    const message = entry.error?.message ?? 'incomplete packet';
    if (/protocol version/i.test(message)) {
      return { ok: false, reasonCode: UNSUPPORTED_PROTOCOL_VERSION, message, connectProtocolVersion: connectVersionByte(raw) };
    }
    return { ok: false, reasonCode: MALFORMED, message };
  }
  const packet = entry.packet;
  const problem = checkPacket(packet, entry.endPos, raw);
  if (problem) return { ok: false, ...problem };
  return { ok: true, packet };
}

/** Rules mqtt-packet leaves to the receiver. */
function checkPacket(packet: Packet, endPos: number, raw: Uint8Array): { reasonCode: number; message: string } | null {
  const length = (packet as { length?: number }).length ?? 0;
  if (packet.cmd !== 'publish' && length > 0 && endPos !== length) {
    return { reasonCode: MALFORMED, message: `${packet.cmd} has ${length - endPos} unexpected trailing bytes` };
  }
  switch (packet.cmd) {
    case 'publish':
      // DUP must be 0 for QoS 0 [MQTT-3.3.1-2].
      if (packet.qos === 0 && packet.dup) return { reasonCode: MALFORMED, message: 'DUP set on a QoS 0 PUBLISH' };
      if (packet.qos > 0 && !packet.messageId) return { reasonCode: PROTOCOL_ERROR, message: 'packet identifier 0' };
      return null;
    case 'subscribe':
      if (!packet.messageId) return { reasonCode: PROTOCOL_ERROR, message: 'packet identifier 0' };
      // At least one topic filter [MQTT-3.8.3-2].
      if (packet.subscriptions.length === 0) return { reasonCode: PROTOCOL_ERROR, message: 'SUBSCRIBE without topic filters' };
      return null;
    case 'unsubscribe':
      if (!packet.messageId) return { reasonCode: PROTOCOL_ERROR, message: 'packet identifier 0' };
      if (packet.unsubscriptions.length === 0) return { reasonCode: PROTOCOL_ERROR, message: 'UNSUBSCRIBE without topic filters' }; // [MQTT-3.10.3-2]
      return null;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      if (!packet.messageId) return { reasonCode: PROTOCOL_ERROR, message: 'packet identifier 0' };
      return null;
    case 'connect': {
      // Will QoS 3 is malformed [MQTT-3.1.2-14].
      const flags = connectFlags(raw);
      if (flags !== undefined && ((flags >> 3) & 0x03) === 3) return { reasonCode: MALFORMED, message: 'will QoS 3' };
      if (packet.protocolVersion === 5) {
        const p = packet.properties;
        if (p?.receiveMaximum === 0) return { reasonCode: PROTOCOL_ERROR, message: 'Receive Maximum 0' };
        if (p?.maximumPacketSize === 0) return { reasonCode: PROTOCOL_ERROR, message: 'Maximum Packet Size 0' };
      }
      return null;
    }
    default:
      return null;
  }
}

function connectFlags(raw: Uint8Array): number | undefined {
  let i = 1;
  while (i < raw.length && raw[i] & 0x80) i++;
  i++;
  const nameLen = ((raw[i] ?? 0) << 8) | (raw[i + 1] ?? 0);
  return raw[i + 3 + nameLen];
}
