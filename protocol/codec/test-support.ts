/**
 * Byte-level builders for codec tests: hand-made packets reach the cases a
 * well-behaved encoder can never produce.
 */
import { Buffer } from 'node:buffer';
import * as mqtt from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';

export type Bytes = number[] | Uint8Array;

export function u16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}

export function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

/** A Variable Byte Integer, minimally encoded. */
export function vbi(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** A length-prefixed string or binary field. Strings are UTF-8 encoded; byte arrays are taken as they are. */
export function str(value: string | Bytes): number[] {
  const bytes = typeof value === 'string' ? [...Buffer.from(value, 'utf8')] : [...value];
  return [...u16(bytes.length), ...bytes];
}

/** A property block: Property Length followed by the given property bytes. */
export function props(...parts: Bytes[]): number[] {
  const body = parts.flatMap((p) => [...p]);
  return [...vbi(body.length), ...body];
}

/** A whole packet: first byte, correct Remaining Length, then the body parts. */
export function packet(firstByte: number, ...parts: Bytes[]): Uint8Array {
  const body = parts.flatMap((p) => [...p]);
  return Uint8Array.from([firstByte, ...vbi(body.length), ...body]);
}

/** Bytes of a packet written as a plain object; a test may leave out what mqtt-packet's types require but its encoder does not read. */
export function generate(p: Packet | Record<string, unknown>, protocolVersion: 3 | 4 | 5): Uint8Array {
  return new Uint8Array(mqtt.generate(p as Packet, { protocolVersion }));
}

/** CONNECT bytes with the given connect flags and payload, for the given level. */
export function connectWith(level: 3 | 4 | 5, flags: number, payload: Bytes[], properties: number[] = [0]): Uint8Array {
  const name = level === 3 ? 'MQIsdp' : 'MQTT';
  return packet(0x10, str(name), [level, flags], u16(60), level === 5 ? properties : [], ...payload);
}

/** Splits bytes at the given cut points into separate, independently allocated chunks. */
export function splitAt(bytes: Uint8Array, ...cuts: number[]): Uint8Array[] {
  const bounds = [0, ...cuts, bytes.length];
  const out: Uint8Array[] = [];
  for (let i = 0; i < bounds.length - 1; i++) out.push(bytes.slice(bounds[i], bounds[i + 1]));
  return out;
}

export function concat(...chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
