/**
 * mqtt-packet's internals, the one place the codec steps outside the
 * package's typings. parser.js is not an entry point of the package, so its
 * Parser class, and the class of the packet object its states fill in, are
 * reached through an instance; the interfaces below say what of them the
 * strict parser in decode.ts uses, and a check at load time fails loudly if
 * an mqtt-packet upgrade no longer has them.
 */
import * as mqtt from 'mqtt-packet';

/** The parts of mqtt-packet's Parser (parser.js) that the strict parser builds on. */
export interface ParsingPacket {
  cmd: string;
  length: number;
  qos: number;
  messageId?: number;
  clientId?: string;
  reasonCode?: number;
  [field: string]: unknown;
}

export interface MqttPacketParser {
  settings: { protocolVersion?: number };
  packet: ParsingPacket;
  error: Error | null;
  _pos: number;
  _stateCounter: number;
  _list: { length: number };
  parser(opt: { protocolVersion: number }): this;
  parse(buf: Buffer): number;
  _resetState(): void;
  _emitError(err: Error): void;
  _newPacket(): boolean;
  _parseNum(): number;
  _parseString(): string | null;
  _parseBuffer(): Buffer | null;
  _parseMessageId(): boolean;
  _parseProperties(): Record<string, unknown>;
  _parseAuth(): unknown;
}

interface ParserInternals {
  constructor: new () => MqttPacketParser;
  packet: { constructor: new () => ParsingPacket };
}

/** A parser made by its class, holding a packet made by its class: what is checked before the interfaces above are trusted. */
function hasParserInternals(parser: unknown): parser is ParserInternals {
  if (typeof parser !== 'object' || parser === null || !('packet' in parser)) return false;
  const packet = parser.packet;
  return typeof parser.constructor === 'function' && typeof packet === 'object' && packet !== null && typeof packet.constructor === 'function';
}

function parserInternals(): ParserInternals {
  const parser: unknown = mqtt.parser();
  if (!hasParserInternals(parser)) throw new Error('mqtt-packet no longer exposes the Parser internals the strict parser builds on');
  return parser;
}

const internals = parserInternals();
/** mqtt-packet's Parser class, for the strict parser to extend. */
export const MqttPacketParser = internals.constructor;
/** The class of the packet object the Parser's states fill in. */
export const PacketClass = internals.packet.constructor;
