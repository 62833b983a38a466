import { Buffer } from 'node:buffer';
import type { IConnectPacket, IPublishPacket, Packet, QoS } from 'mqtt-packet';
import { filterSyntaxProblem } from '../topics/validate';
import { asciiText } from './ascii';
import { fixedHeaderSize } from './fixed-header';
import { MqttPacketParser, PacketClass, type ParsingPacket } from './mqtt-packet-internals';
import type { TopicMemo } from './topic-memo';

export type DecodeResult =
  | { ok: true; packet: Packet }
  | {
      ok: false;
      reasonCode: number;
      message: string;
      /** The Protocol Level byte of a refused CONNECT, as sent, so the refusal can be worded for that client. */
      connectProtocolVersion?: number;
    };

const MALFORMED = 0x81;
const PROTOCOL_ERROR = 0x82;
const UNSUPPORTED_PROTOCOL_VERSION = 0x84;

const CONNECT = 1;
const PUBLISH = 3;
const PUBACK = 4;

/**
 * Packet types whose direction is Server to Client only (Table 2.1 in 3.1.1
 * and 5.0). Received by a server they are a protocol violation whatever their
 * body holds, so they are refused on the fixed header alone.
 */
const SERVER_ONLY_TYPES: Readonly<Record<number, string>> = {
  2: 'CONNACK',
  9: 'SUBACK',
  11: 'UNSUBACK',
  13: 'PINGRESP',
};

/** An error that already knows which reason code it deserves. */
class CodecError extends Error {
  constructor(
    readonly reasonCode: number,
    message: string,
  ) {
    super(message);
  }
}

// ignoreBOM keeps a leading U+FEFF in the string: it must not be stripped [MQTT-1.5.4-3].
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ----------------------------------------------------------------- properties

const P = {
  payloadFormatIndicator: 1,
  messageExpiryInterval: 2,
  contentType: 3,
  responseTopic: 8,
  correlationData: 9,
  subscriptionIdentifier: 11,
  sessionExpiryInterval: 17,
  assignedClientIdentifier: 18,
  serverKeepAlive: 19,
  authenticationMethod: 21,
  authenticationData: 22,
  requestProblemInformation: 23,
  willDelayInterval: 24,
  requestResponseInformation: 25,
  responseInformation: 26,
  serverReference: 28,
  reasonString: 31,
  receiveMaximum: 33,
  topicAliasMaximum: 34,
  topicAlias: 35,
  maximumQoS: 36,
  retainAvailable: 37,
  userProperty: 38,
  maximumPacketSize: 39,
  wildcardSubscriptionAvailable: 40,
  subscriptionIdentifiersAvailable: 41,
  sharedSubscriptionAvailable: 42,
} as const;

type PropertyType = 'bool' | 'int8' | 'int16' | 'int32' | 'var' | 'string' | 'pair' | 'binary';

/** Name as mqtt-packet spells it (so decoded packets look exactly like its own) and wire type. */
const PROPERTY_INFO: Record<number, readonly [string, PropertyType]> = {
  [P.payloadFormatIndicator]: ['payloadFormatIndicator', 'bool'],
  [P.messageExpiryInterval]: ['messageExpiryInterval', 'int32'],
  [P.contentType]: ['contentType', 'string'],
  [P.responseTopic]: ['responseTopic', 'string'],
  [P.correlationData]: ['correlationData', 'binary'],
  [P.subscriptionIdentifier]: ['subscriptionIdentifier', 'var'],
  [P.sessionExpiryInterval]: ['sessionExpiryInterval', 'int32'],
  [P.assignedClientIdentifier]: ['assignedClientIdentifier', 'string'],
  [P.serverKeepAlive]: ['serverKeepAlive', 'int16'],
  [P.authenticationMethod]: ['authenticationMethod', 'string'],
  [P.authenticationData]: ['authenticationData', 'binary'],
  [P.requestProblemInformation]: ['requestProblemInformation', 'bool'],
  [P.willDelayInterval]: ['willDelayInterval', 'int32'],
  [P.requestResponseInformation]: ['requestResponseInformation', 'bool'],
  [P.responseInformation]: ['responseInformation', 'string'],
  [P.serverReference]: ['serverReference', 'string'],
  [P.reasonString]: ['reasonString', 'string'],
  [P.receiveMaximum]: ['receiveMaximum', 'int16'],
  [P.topicAliasMaximum]: ['topicAliasMaximum', 'int16'],
  [P.topicAlias]: ['topicAlias', 'int16'],
  [P.maximumQoS]: ['maximumQoS', 'int8'],
  [P.retainAvailable]: ['retainAvailable', 'bool'],
  [P.userProperty]: ['userProperties', 'pair'],
  [P.maximumPacketSize]: ['maximumPacketSize', 'int32'],
  [P.wildcardSubscriptionAvailable]: ['wildcardSubscriptionAvailable', 'bool'],
  [P.subscriptionIdentifiersAvailable]: ['subscriptionIdentifiersAvailable', 'bool'],
  [P.sharedSubscriptionAvailable]: ['sharedSubscriptionAvailable', 'bool'],
};

const ACK_PROPERTIES = new Set<number>([P.reasonString, P.userProperty]);

/** Properties each packet may carry (spec 2.2.2.2, Table 2-4). */
const ALLOWED_PROPERTIES: Record<string, ReadonlySet<number>> = {
  connect: new Set([
    P.sessionExpiryInterval,
    P.receiveMaximum,
    P.maximumPacketSize,
    P.topicAliasMaximum,
    P.requestResponseInformation,
    P.requestProblemInformation,
    P.userProperty,
    P.authenticationMethod,
    P.authenticationData,
  ]),
  will: new Set([
    P.willDelayInterval,
    P.payloadFormatIndicator,
    P.messageExpiryInterval,
    P.contentType,
    P.responseTopic,
    P.correlationData,
    P.userProperty,
  ]),
  connack: new Set([
    P.sessionExpiryInterval,
    P.receiveMaximum,
    P.maximumQoS,
    P.retainAvailable,
    P.maximumPacketSize,
    P.assignedClientIdentifier,
    P.topicAliasMaximum,
    P.reasonString,
    P.userProperty,
    P.wildcardSubscriptionAvailable,
    P.subscriptionIdentifiersAvailable,
    P.sharedSubscriptionAvailable,
    P.serverKeepAlive,
    P.responseInformation,
    P.serverReference,
    P.authenticationMethod,
    P.authenticationData,
  ]),
  publish: new Set([
    P.payloadFormatIndicator,
    P.messageExpiryInterval,
    P.topicAlias,
    P.responseTopic,
    P.correlationData,
    P.userProperty,
    P.subscriptionIdentifier,
    P.contentType,
  ]),
  puback: ACK_PROPERTIES,
  pubrec: ACK_PROPERTIES,
  pubrel: ACK_PROPERTIES,
  pubcomp: ACK_PROPERTIES,
  suback: ACK_PROPERTIES,
  unsuback: ACK_PROPERTIES,
  subscribe: new Set([P.subscriptionIdentifier, P.userProperty]),
  unsubscribe: new Set([P.userProperty]),
  disconnect: new Set([P.sessionExpiryInterval, P.reasonString, P.userProperty, P.serverReference]),
  auth: new Set([P.authenticationMethod, P.authenticationData, P.reasonString, P.userProperty]),
};

// ----------------------------------------------------------------- the parser

/**
 * A packet mqtt-packet's Parser states (mqtt-packet-internals.ts) filled in
 * completely is the Packet the package's own parse event would emit
 * (decode.test.ts compares them), which is what this states.
 */
function completedPacket(packet: ParsingPacket): Packet {
  return packet as Packet;
}

const EMPTY = Buffer.alloc(0);

/**
 * The part of `bl`'s BufferList that mqtt-packet's Parser reads from, over
 * the single buffer that holds one whole packet. mqtt-packet makes a new `bl`
 * stream (a Duplex with its own event emitter and stream states) for every
 * packet; this is reused instead, and reads are plain Buffer reads.
 */
class SinglePacketList {
  private buf: Buffer = EMPTY;
  private offset = 0;

  get length(): number {
    return this.buf.length - this.offset;
  }

  reset(): void {
    this.buf = EMPTY;
    this.offset = 0;
  }

  append(buf: Buffer): this {
    // Only ever called on an empty list: decode() resets it after every packet.
    this.buf = this.length === 0 ? buf : Buffer.concat([this.buf.subarray(this.offset), buf]);
    this.offset = 0;
    return this;
  }

  consume(bytes: number): this {
    this.offset = Math.min(this.buf.length, this.offset + bytes);
    return this;
  }

  readUInt8(at: number): number {
    return this.buf.readUInt8(this.offset + at);
  }

  readUInt16BE(at: number): number {
    return this.buf.readUInt16BE(this.offset + at);
  }

  readUInt32BE(at: number): number {
    return this.buf.readUInt32BE(this.offset + at);
  }

  /** A view, like bl's slice over a single buffer. */
  slice(start = 0, end = this.length): Buffer {
    return this.buf.subarray(this.offset + start, this.offset + Math.min(end, this.length));
  }

  toString(encoding: BufferEncoding, start = 0, end = this.length): string {
    return this.buf.toString(encoding, this.offset + start, this.offset + Math.min(end, this.length));
  }
}

/**
 * mqtt-packet's Parser, made strict where it is lenient: strings are checked
 * as UTF-8 instead of decoded with replacement characters, properties are
 * bounds-checked and validated per packet, and a missing Packet Identifier is
 * an error. Fed exactly one packet per call, synchronously.
 */
class StrictParser extends MqttPacketParser {
  private body: Buffer = EMPTY;
  /** Where the field being read must end: the packet, or the property block being read. */
  private limit = 0;
  private result: ParsingPacket | null = null;
  private resultEnd = 0;
  private failure: Error | null = null;

  private readonly list = new SinglePacketList();

  constructor(private readonly version: 3 | 4 | 5) {
    super();
    this.parser({ protocolVersion: version });
  }

  /** mqtt-packet's own reset, minus the new `bl` stream per packet. */
  override _resetState(): void {
    // Runs from the base constructor too, before this class's fields exist.
    const list = this.list ?? new SinglePacketList();
    list.reset();
    this.packet = new PacketClass();
    this.error = null;
    this._list = list;
    this._stateCounter = 0;
  }

  decode(raw: Buffer, headerSize: number): { packet: ParsingPacket; end: number } | { error: Error } {
    // A CONNECT makes mqtt-packet adopt it as its settings; undo that every time.
    this.settings = { protocolVersion: this.version };
    this.body = raw.subarray(headerSize);
    this.limit = this.body.length;
    this.result = null;
    this.failure = null;
    try {
      this.parse(raw);
    } catch (err) {
      // Whatever mqtt-packet might throw on hostile input becomes a refusal, never a crash.
      this.failure ??= err instanceof Error ? err : new Error(String(err));
    } finally {
      // Nothing of this packet may leak into the next call. _resetState leaves
      // _pos behind after an error, and the next header would be read from there.
      this._resetState();
      this._pos = 0;
      this.body = EMPTY;
    }
    if (this.failure) return { error: this.failure };
    if (!this.result) return { error: new Error('incomplete packet') };
    return { packet: this.result, end: this.resultEnd };
  }

  override _emitError(err: Error): void {
    this.failure ??= err;
    this.error = err;
  }

  override _newPacket(): boolean {
    if (this.result === null && this.failure === null) {
      this.result = this.packet;
      this.resultEnd = this._pos;
    }
    return super._newPacket();
  }

  override _parseMessageId(): boolean {
    const id = this._parseNum();
    if (id === -1) {
      this._emitError(new CodecError(MALFORMED, 'packet too short for a packet identifier'));
      return false;
    }
    this.packet.messageId = id;
    return true;
  }

  /** A UTF-8 Encoded String [MQTT-1.5.4-1], [MQTT-1.5.4-2]; null when it does not fit or is invalid. */
  override _parseString(): string | null {
    const bytes = this.lengthPrefixed();
    if (bytes === null) return null;
    let text: string;
    try {
      text = strictUtf8.decode(bytes);
    } catch {
      this._emitError(new CodecError(MALFORMED, 'string is not well-formed UTF-8'));
      return null;
    }
    if (text.includes('\u0000')) {
      this._emitError(new CodecError(MALFORMED, 'string contains U+0000'));
      return null;
    }
    return text;
  }

  override _parseBuffer(): Buffer | null {
    return this.lengthPrefixed();
  }

  /** A two-byte length and that many bytes, all within the current limit. */
  private lengthPrefixed(): Buffer | null {
    const start = this._pos + 2;
    if (start > this.limit) return null;
    const end = start + this.body.readUInt16BE(this._pos);
    if (end > this.limit) return null;
    this._pos = end;
    return this.body.subarray(start, end);
  }

  /** A Variable Byte Integer inside the variable header, or -1 after reporting why not. */
  private varInt(): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; ; i++) {
      if (i === 4) {
        this._emitError(new CodecError(MALFORMED, 'variable byte integer longer than four bytes'));
        return -1;
      }
      if (this._pos >= this.limit) {
        this._emitError(new CodecError(MALFORMED, 'truncated variable byte integer'));
        return -1;
      }
      const b = this.body[this._pos++];
      value += (b & 0x7f) * multiplier;
      multiplier *= 128;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) {
          this._emitError(new CodecError(MALFORMED, 'variable byte integer not minimally encoded')); // [MQTT-1.5.5-1]
          return -1;
        }
        return value;
      }
    }
  }

  override _parseAuth(): unknown {
    if (this.settings.protocolVersion === 5 && this.packet.length === 0) {
      // Reason Code and Properties may both be omitted for Success (spec 3.15.2.1).
      this.packet.reasonCode = 0;
      return true;
    }
    return super._parseAuth();
  }

  /**
   * Replaces mqtt-packet's property reader, which neither keeps values inside
   * the Property Length nor notices truncated, repeated or misplaced properties.
   */
  override _parseProperties(): Record<string, unknown> {
    const packet = this.packet;
    if ((packet.cmd === 'disconnect' || packet.cmd === 'auth') && this._pos >= packet.length) {
      // Omitted when nothing follows the Reason Code (spec 3.14.2.2.1).
      return {};
    }
    const context = packet.cmd === 'connect' && packet.clientId !== undefined ? 'will' : packet.cmd;
    const allowed = ALLOWED_PROPERTIES[context];
    const result: Record<string, unknown> = {};
    const reject = (reasonCode: number, message: string): Record<string, unknown> => {
      this._emitError(new CodecError(reasonCode, message));
      return result;
    };

    const length = this.varInt();
    if (length === -1) return result;
    const end = this._pos + length;
    if (end > packet.length) return reject(MALFORMED, 'property length exceeds the packet');
    const outerLimit = this.limit;
    this.limit = end;
    const seen = new Set<number>();
    try {
      while (this._pos < end) {
        const id = this.body[this._pos++];
        const info = PROPERTY_INFO[id];
        if (!info) return reject(MALFORMED, `unknown property 0x${id.toString(16)}`);
        const [name, type] = info;
        // A property not valid for its packet is malformed (spec 2.2.2.2).
        if (!allowed?.has(id)) return reject(MALFORMED, `property ${name} is not allowed in ${context}`);
        const repeatable = id === P.userProperty || (id === P.subscriptionIdentifier && context === 'publish');
        if (seen.has(id) && !repeatable) return reject(PROTOCOL_ERROR, `property ${name} included more than once`);
        seen.add(id);

        let value: unknown;
        switch (type) {
          case 'bool':
          case 'int8': {
            if (this._pos + 1 > end) return reject(MALFORMED, `property ${name} truncated`);
            const byte = this.body[this._pos++];
            if (byte > 1) return reject(PROTOCOL_ERROR, `property ${name} must be 0 or 1`);
            value = type === 'bool' ? byte === 1 : byte;
            break;
          }
          case 'int16':
            if (this._pos + 2 > end) return reject(MALFORMED, `property ${name} truncated`);
            value = this.body.readUInt16BE(this._pos);
            this._pos += 2;
            break;
          case 'int32':
            if (this._pos + 4 > end) return reject(MALFORMED, `property ${name} truncated`);
            value = this.body.readUInt32BE(this._pos);
            this._pos += 4;
            break;
          case 'var':
            value = this.varInt();
            if (value === -1) return result;
            break;
          case 'binary':
            value = this._parseBuffer();
            if (value === null) return reject(MALFORMED, `property ${name} truncated`);
            break;
          case 'string':
            value = this._parseString();
            if (value === null) return reject(MALFORMED, `property ${name} truncated`);
            break;
          case 'pair': {
            // Both halves are UTF-8 strings [MQTT-1.5.7-1].
            const key = this._parseString();
            const pairValue = key === null ? null : this._parseString();
            if (key === null || pairValue === null) return reject(MALFORMED, 'user property truncated');
            const pairs = (result.userProperties ??= Object.create(null)) as Record<string, string | string[]>;
            const existing = pairs[key];
            if (existing === undefined) pairs[key] = pairValue;
            else if (Array.isArray(existing)) existing.push(pairValue);
            else pairs[key] = [existing, pairValue];
            continue;
          }
        }

        if (value === 0 && (id === P.receiveMaximum || id === P.maximumPacketSize || id === P.subscriptionIdentifier)) {
          return reject(PROTOCOL_ERROR, `property ${name} must not be 0`);
        }
        if (id === P.subscriptionIdentifier && context === 'publish') {
          const current = result[name];
          result[name] = current === undefined ? value : Array.isArray(current) ? [...current, value] : [current, value];
        } else {
          result[name] = value;
        }
      }
    } finally {
      this.limit = outerLimit;
    }
    return result;
  }
}

const parsers = new Map<3 | 4 | 5, StrictParser>();

function parserFor(version: 3 | 4 | 5): StrictParser {
  let parser = parsers.get(version);
  if (!parser) {
    parser = new StrictParser(version);
    parsers.set(version, parser);
  }
  return parser;
}

// ----------------------------------------------------------------- decoding

function fail(reasonCode: number, message: string): DecodeResult {
  return { ok: false, reasonCode, message };
}

const MQTT = [0x4d, 0x51, 0x54, 0x54];
const MQISDP = [0x4d, 0x51, 0x49, 0x73, 0x64, 0x70];

function bytesEqual(raw: Uint8Array, at: number, length: number, expected: readonly number[]): boolean {
  if (length !== expected.length) return false;
  for (let i = 0; i < length; i++) if (raw[at + i] !== expected[i]) return false;
  return true;
}

/**
 * The version a first CONNECT asks for. Only the pairs real clients send are
 * accepted: "MQIsdp" with level 3 (MQTT 3.1), "MQTT" with 4 (3.1.1) or 5.
 * Bridge levels (0x83, 0x84) are refused too: a bridge falls back to a plain
 * level on that answer, and the no-local semantics they imply are not offered.
 */
function connectVersion(raw: Uint8Array, headerSize: number): 3 | 4 | 5 | DecodeResult {
  const nameLength = headerSize + 2 <= raw.length ? (raw[headerSize] << 8) | raw[headerSize + 1] : -1;
  const levelAt = headerSize + 2 + nameLength;
  if (nameLength === -1 || levelAt >= raw.length) return fail(MALFORMED, 'CONNECT too short for a protocol name and level');
  const level = raw[levelAt];
  const nameAt = headerSize + 2;
  if ((level === 4 || level === 5) && bytesEqual(raw, nameAt, nameLength, MQTT)) return level;
  if (level === 3 && bytesEqual(raw, nameAt, nameLength, MQISDP)) return level;
  // Answered with CONNACK 0x84 / return code 1 [MQTT-3.1.2-1], [MQTT-3.1.2-2].
  return {
    ok: false,
    reasonCode: UNSUPPORTED_PROTOCOL_VERSION,
    message: `unsupported protocol name or level ${level}`,
    connectProtocolVersion: level,
  };
}

/** Errors raised by mqtt-packet itself that MQTT 5 classes as Protocol Errors rather than Malformed Packets. */
function reasonCodeOf(err: Error, version: 3 | 4 | 5): number {
  if (err instanceof CodecError) return err.reasonCode;
  if (version === 5) {
    // Retain Handling 3 and Maximum QoS 3 are Protocol Errors (spec 3.8.3.1).
    if (err.message.startsWith('Invalid retain handling') || err.message.startsWith('Invalid subscribe QoS')) return PROTOCOL_ERROR;
  }
  return MALFORMED;
}

/**
 * Decodes one complete packet received by the server, as cut by PacketFramer.
 * `protocolVersion` is the connection's version, or null before CONNECT: then
 * only a CONNECT is accepted and its own version is used.
 *
 * Binary fields and the PUBLISH payload are views of `raw`, not copies: read
 * them as Uint8Array. mqtt-packet's types say Buffer, but the PUBLISH read
 * directly (publishOf) gives a plain view. `topics`, the connection's memo,
 * gives a PUBLISH to the same topic as the one before it the same string.
 */
export function decodePacket(raw: Uint8Array, protocolVersion: 3 | 4 | 5 | null, topics?: TopicMemo): DecodeResult {
  const headerSize = fixedHeaderSize(raw);
  if (typeof headerSize === 'string') return fail(MALFORMED, headerSize);
  const type = raw[0] >> 4;

  let version: 3 | 4 | 5;
  if (protocolVersion === null) {
    // The first packet must be CONNECT [MQTT-3.1.0-1].
    if (type !== CONNECT) return fail(PROTOCOL_ERROR, 'the first packet must be CONNECT');
    const asked = connectVersion(raw, headerSize);
    if (typeof asked !== 'number') return asked;
    version = asked;
  } else {
    version = protocolVersion;
    // Decided before the body is read: the complaint is the packet's direction, not its
    // contents. 3.1.1 closes [MQTT-4.8.0-1]; 5.0 sends DISCONNECT 0x82 first [MQTT-4.13.1-1].
    const serverOnly = SERVER_ONLY_TYPES[type];
    if (serverOnly) return fail(PROTOCOL_ERROR, `${serverOnly} is sent only by a server`);
  }

  const result = decodeAs(version, raw, headerSize, type, topics);
  // A CONNECT that names its version but is broken still gets an answer the client can read.
  if (!result.ok && protocolVersion === null) result.connectProtocolVersion = version;
  return result;
}

function decodeAs(version: 3 | 4 | 5, raw: Uint8Array, headerSize: number, type: number, topics: TopicMemo | undefined): DecodeResult {
  if (version !== 5) {
    const common =
      type === PUBLISH ? publishOf(raw, headerSize, topics) : type === PUBACK ? pubackOf(raw, headerSize) : type === CONNECT ? connectOf(raw, headerSize) : null;
    if (common !== null) return { ok: true, packet: common };
  }
  const buffer = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const parsed = parserFor(version).decode(buffer, headerSize);
  if ('error' in parsed) return fail(reasonCodeOf(parsed.error, version), parsed.error.message);

  const { packet, end } = parsed;
  if (type !== PUBLISH && end !== packet.length) {
    return fail(MALFORMED, `${packet.cmd} has ${packet.length - end} bytes beyond its last field`);
  }
  const complete = completedPacket(packet);
  const problem = checkPacket(complete, raw, headerSize, version);
  if (problem) return problem;
  return { ok: true, packet: complete };
}

// ----------------------------------------------------------------- the packets of every message

/** The QoS bits of a PUBLISH's fixed header; 3 is malformed. */
const QOS_OF_FLAGS: readonly [QoS, QoS, QoS, null] = [0, 1, 2, null];

/**
 * A well-formed 3.1/3.1.1 PUBLISH read directly, as the same object
 * mqtt-packet's parser builds (checked in decode.test.ts): it is the packet of
 * every message, and the general parser's state machine, with a `debug` call
 * at every step, costs more than the rest of its handling. Anything the
 * general path would refuse or treat specially returns null and goes that
 * way, so refusals keep their exact reason.
 */
function publishOf(raw: Uint8Array, headerSize: number, topics: TopicMemo | undefined): Packet | null {
  const flags = raw[0] & 0x0f;
  const qos = QOS_OF_FLAGS[(flags >> 1) & 0x03];
  const dup = (flags & 0x08) !== 0;
  if (qos === null || (qos === 0 && dup)) return null;
  const topicAt = headerSize + 2;
  if (topicAt > raw.length) return null;
  const topicEnd = topicAt + ((raw[headerSize] << 8) | raw[headerSize + 1]);
  const payloadAt = topicEnd + (qos > 0 ? 2 : 0);
  if (payloadAt > raw.length) return null;
  const topic = topics ? topics.textOf(raw, topicAt, topicEnd) : asciiText(raw, topicAt, topicEnd);
  if (topic === null) return null;
  const packet: IPublishPacket = {
    cmd: 'publish',
    retain: (flags & 0x01) !== 0,
    qos,
    dup,
    length: raw.length - headerSize,
    topic,
    // A plain view, not a Buffer: the runtime's Buffer.from costs more than the rest of this function.
    payload: raw.subarray(payloadAt) as Buffer,
  };
  if (qos > 0) {
    const id = (raw[topicEnd] << 8) | raw[topicEnd + 1];
    if (id === 0) return null;
    packet.messageId = id;
  }
  return packet;
}

/** A 3.1/3.1.1 PUBACK: four bytes. */
function pubackOf(raw: Uint8Array, headerSize: number): Packet | null {
  if (raw[0] !== 0x40 || headerSize !== 2 || raw.length !== 4) return null;
  const id = (raw[2] << 8) | raw[3];
  if (id === 0) return null;
  // mqtt-packet's parser leaves these fields of its packet object at their defaults on a PUBACK too.
  const packet = { cmd: 'puback' as const, retain: false, qos: 0, dup: false, length: 2, topic: null, payload: null, messageId: id };
  return packet;
}

/** A two-byte length and where its bytes start, or null when they do not fit before `end`. */
function lengthPrefixedAt(raw: Uint8Array, at: number, end: number): { start: number; end: number } | null {
  if (at + 2 > end) return null;
  const start = at + 2;
  const stop = start + ((raw[at] << 8) | raw[at + 1]);
  return stop > end ? null : { start, end: stop };
}

/**
 * A well-formed 3.1/3.1.1 CONNECT read directly, as the same object
 * mqtt-packet's parser builds (checked in decode.test.ts): every device's
 * first packet, at every reconnect, where the general parser's state machine
 * and its `debug` calls were a tenth of a connection's CPU in the shard.
 * Strings must be ASCII without U+0000; anything else (non-ASCII text, a
 * reserved or inconsistent flag, a field that does not fit, bytes after the
 * last field, a bridge level) returns null and goes the general way, so
 * every refusal keeps its exact reason. The protocol name and level are
 * asked of connectVersion here too: decodePacket asks it only for a
 * connection's first packet, and a second CONNECT must close as
 * mqtt-packet's parser decides.
 */
function connectOf(raw: Uint8Array, headerSize: number): IConnectPacket | null {
  if (raw[0] !== 0x10) return null;
  const end = raw.length;
  const name = lengthPrefixedAt(raw, headerSize, end);
  if (name === null || name.end + 4 > end) return null;
  const protocolVersion = connectVersion(raw, headerSize);
  if (protocolVersion !== 3 && protocolVersion !== 4) return null;
  const flags = raw[name.end + 1];
  const hasWill = (flags & 0x04) !== 0;
  const willQos = (flags >> 3) & 0x03;
  const willRetain = (flags & 0x20) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  const hasUsername = (flags & 0x80) !== 0;
  // Reserved bit, will QoS 3, will QoS or retain without a will, password without a user name.
  if ((flags & 0x01) !== 0 || willQos === 3 || (!hasWill && (willQos !== 0 || willRetain)) || (hasPassword && !hasUsername)) return null;

  const clientIdField = lengthPrefixedAt(raw, name.end + 4, end);
  if (clientIdField === null) return null;
  const clientId = asciiText(raw, clientIdField.start, clientIdField.end);
  if (clientId === null) return null;
  let at = clientIdField.end;
  const packet: IConnectPacket = {
    cmd: 'connect',
    protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion,
    clean: (flags & 0x02) !== 0,
    keepalive: (raw[name.end + 2] << 8) | raw[name.end + 3],
    clientId,
  };
  if (hasWill) {
    const topicField = lengthPrefixedAt(raw, at, end);
    if (topicField === null) return null;
    const topic = asciiText(raw, topicField.start, topicField.end);
    const payloadField = topic === null ? null : lengthPrefixedAt(raw, topicField.end, end);
    if (topic === null || payloadField === null) return null;
    packet.will = { retain: willRetain, qos: willQos as QoS, topic, payload: viewOf(raw, payloadField) };
    at = payloadField.end;
  }
  if (hasUsername) {
    const usernameField = lengthPrefixedAt(raw, at, end);
    const username = usernameField === null ? null : asciiText(raw, usernameField.start, usernameField.end);
    if (usernameField === null || username === null) return null;
    packet.username = username;
    at = usernameField.end;
  }
  if (hasPassword) {
    const passwordField = lengthPrefixedAt(raw, at, end);
    if (passwordField === null) return null;
    packet.password = viewOf(raw, passwordField);
    at = passwordField.end;
  }
  if (at !== end) return null;
  // The fields mqtt-packet's packet object has for every packet, at the values its parser leaves on a CONNECT.
  return Object.assign({ retain: false, qos: 0, dup: false, length: end - headerSize, topic: null, payload: null }, packet);
}

function viewOf(raw: Uint8Array, field: { start: number; end: number }): Buffer {
  return Buffer.from(raw.buffer, raw.byteOffset + field.start, field.end - field.start);
}

/** Rules mqtt-packet leaves to the receiver. */
function checkPacket(packet: Packet, raw: Uint8Array, headerSize: number, version: 3 | 4 | 5): DecodeResult | null {
  switch (packet.cmd) {
    case 'publish':
      if (packet.qos === 0 && packet.dup) return fail(MALFORMED, 'DUP set on a QoS 0 PUBLISH'); // [MQTT-3.3.1-2]
      if (packet.qos > 0 && packet.messageId === 0) return fail(PROTOCOL_ERROR, 'packet identifier 0'); // [MQTT-2.2.1-3]
      if (packet.properties?.subscriptionIdentifier !== undefined) {
        return fail(PROTOCOL_ERROR, 'Subscription Identifier in a PUBLISH from a client'); // [MQTT-3.3.4-6]
      }
      return null;
    case 'subscribe':
      if (packet.messageId === 0) return fail(PROTOCOL_ERROR, 'packet identifier 0'); // [MQTT-2.2.1-3]
      // At least one filter: [MQTT-3.8.3-2] in 5.0, [MQTT-3.8.3-3] in 3.1.1.
      if (packet.subscriptions.length === 0) return fail(PROTOCOL_ERROR, 'SUBSCRIBE without topic filters');
      if (packet.subscriptions.some((s) => s.topic === '')) return emptyTopicFilter('SUBSCRIBE');
      return version === 5 ? null : brokenFilterIn311('SUBSCRIBE', packet.subscriptions.map((s) => s.topic));
    case 'unsubscribe':
      if (packet.messageId === 0) return fail(PROTOCOL_ERROR, 'packet identifier 0'); // [MQTT-2.2.1-3]
      if (packet.unsubscriptions.length === 0) return fail(PROTOCOL_ERROR, 'UNSUBSCRIBE without topic filters'); // [MQTT-3.10.3-2]
      if (packet.unsubscriptions.some((filter) => filter === '')) return emptyTopicFilter('UNSUBSCRIBE');
      return version === 5 ? null : brokenFilterIn311('UNSUBSCRIBE', packet.unsubscriptions);
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      // Acknowledges a PUBLISH, whose identifier is never 0 [MQTT-2.2.1-5].
      if (packet.messageId === 0) return fail(PROTOCOL_ERROR, 'packet identifier 0');
      return null;
    case 'connect': {
      // Will QoS 3 is malformed: [MQTT-3.1.2-12] in 5.0, [MQTT-3.1.2-14] in 3.1.1.
      if (packet.will?.qos === (3 as number)) return fail(MALFORMED, 'will QoS 3');
      const flags = connectFlags(raw, headerSize);
      if (packet.protocolVersion !== 5 && (flags & 0x40) !== 0 && (flags & 0x80) === 0) {
        return fail(MALFORMED, 'password without user name'); // [MQTT-3.1.2-22] (3.1.1)
      }
      const p = packet.properties;
      if (p?.authenticationData !== undefined && p.authenticationMethod === undefined) {
        return fail(PROTOCOL_ERROR, 'Authentication Data without Authentication Method'); // spec 3.1.2.11.10
      }
      return null;
    }
    default:
      return null;
  }
}

/**
 * A Topic Filter MUST be at least one character long [MQTT-4.7.3-1] (same
 * number in 3.1.1 and 5.0). Not a filter the server may refuse in its
 * SUBACK/UNSUBACK: 3.1.1 closes the connection on a protocol violation
 * [MQTT-4.8.0-1], and in 5.0 it is a Protocol Error, answered with DISCONNECT
 * 0x82 [MQTT-4.13.1-1]. 0x8F (Topic Filter invalid) is for filters that are
 * "correctly formed but not allowed", which an empty one is not. The whole
 * packet is refused before any of its filters takes effect.
 */
function emptyTopicFilter(packetName: string): DecodeResult {
  return fail(PROTOCOL_ERROR, `${packetName} with a zero-length topic filter`);
}

/**
 * 3.1.1 has no per-filter code for a filter that breaks the wildcard rules
 * ([MQTT-4.7.1-2], [MQTT-4.7.1-3]) or holds U+0000 [MQTT-4.7.3-2]: SUBACK's
 * 0x80 is a refusal of a valid request. The violation closes the connection
 * [MQTT-4.8.0-1] before any filter of the packet takes effect, as mosquitto
 * does. 5.0 answers such a filter with 0x8F in its SUBACK/UNSUBACK instead.
 */
function brokenFilterIn311(packetName: string, filters: readonly string[]): DecodeResult | null {
  for (const filter of filters) {
    const problem = filterSyntaxProblem(filter);
    if (problem !== null) return fail(PROTOCOL_ERROR, `${packetName} with an invalid topic filter: ${problem}`);
  }
  return null;
}

/** Only called once mqtt-packet has parsed the CONNECT, so every offset exists. */
function connectFlags(raw: Uint8Array, headerSize: number): number {
  const nameLength = (raw[headerSize] << 8) | raw[headerSize + 1];
  return raw[headerSize + 2 + nameLength + 1];
}
