import { Buffer } from 'node:buffer';
import type { Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { decodePacket, type DecodeResult } from './decode';
import { encodePacket } from './encode';
import { FrameError, PacketFramer } from './framer';
import { seededRandom } from '../../test/support/seeded-random';
import { generate, vbi } from './test-support';

const SEED = 0x5eed_c0de;

const CORPUS: Array<[3 | 4 | 5, Uint8Array]> = [
  [4, generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'fuzz', clean: true, keepalive: 30, username: 'u', password: Buffer.from('p'), will: { topic: 'w', payload: Buffer.from('x'), qos: 1, retain: false } }, 4)],
  [3, generate({ cmd: 'connect', protocolId: 'MQIsdp', protocolVersion: 3, clientId: 'fuzz31', clean: true, keepalive: 30 }, 3)],
  [
    5,
    generate(
      {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 5,
        clientId: 'fuzz5',
        clean: false,
        keepalive: 30,
        properties: { sessionExpiryInterval: 10, receiveMaximum: 5, userProperties: { a: 'b' }, authenticationMethod: 'M', authenticationData: Buffer.from([1]) },
        will: { topic: 'w', payload: Buffer.from('x'), qos: 2, retain: true, properties: { willDelayInterval: 1, contentType: 'c', correlationData: Buffer.from([2]) } },
      },
      5,
    ),
  ],
  [4, generate({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('hello world'), qos: 1, messageId: 10 }, 4)],
  [5, generate({ cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(40, 1), qos: 2, messageId: 11, properties: { topicAlias: 1, responseTopic: 'r', userProperties: { k: ['1', '2'] }, messageExpiryInterval: 5 } }, 5)],
  [5, generate({ cmd: 'subscribe', messageId: 12, subscriptions: [{ topic: 'a/#', qos: 1, nl: true, rap: false, rh: 2 }, { topic: '+/x', qos: 0 }], properties: { subscriptionIdentifier: 300 } }, 5)],
  [4, generate({ cmd: 'subscribe', messageId: 13, subscriptions: [{ topic: 'a/#', qos: 2 }] }, 4)],
  [5, generate({ cmd: 'unsubscribe', messageId: 14, unsubscriptions: ['a', 'b'], properties: { userProperties: { u: 'v' } } }, 5)],
  [4, generate({ cmd: 'unsubscribe', messageId: 15, unsubscriptions: ['a'] }, 4)],
  [5, generate({ cmd: 'puback', messageId: 16, reasonCode: 0x10, properties: { reasonString: 'r' } }, 5)],
  [4, generate({ cmd: 'pubrel', messageId: 17 }, 4)],
  [5, generate({ cmd: 'pubcomp', messageId: 18, reasonCode: 0x92 }, 5)],
  [5, generate({ cmd: 'disconnect', reasonCode: 0x04, properties: { sessionExpiryInterval: 1, reasonString: 'bye' } }, 5)],
  [5, generate({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'M', authenticationData: Buffer.from([3]) } }, 5)],
  [4, Uint8Array.from([0xc0, 0x00])],
];

const VERSIONS = [null, 3, 4, 5] as const;
const REASON_CODES = new Set([0x81, 0x82, 0x84]);

/** The decoder's contract: always a well-formed result, never an exception. */
function checkResult(r: DecodeResult): void {
  expect(typeof r.ok).toBe('boolean');
  if (r.ok) {
    expect(typeof r.packet.cmd).toBe('string');
  } else {
    expect(REASON_CODES.has(r.reasonCode)).toBe(true);
    expect(typeof r.message).toBe('string');
  }
}

/** Client packets the server may need to re-encode (CONNECT aside); the rest is for the engine to refuse. */
const REENCODED = new Set(['publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'unsubscribe', 'pingreq', 'disconnect', 'auth']);

/** Re-encoding what was accepted must give the same packet back. */
function checkReencodes(r: DecodeResult, version: 3 | 4 | 5): void {
  if (!r.ok || !REENCODED.has(r.packet.cmd)) return;
  const again = decodePacket(encodePacket(r.packet, version), version);
  expect(again.ok).toBe(true);
  if (again.ok) {
    const { length: _a, ...first } = r.packet as unknown as Record<string, unknown>;
    const { length: _b, ...second } = again.packet as unknown as Record<string, unknown>;
    expect(second).toEqual(first);
  }
}

function withLengthFixed(bytes: Uint8Array): Uint8Array {
  let i = 1;
  while (i < bytes.length && i < 5 && bytes[i] & 0x80) i++;
  const body = bytes.subarray(Math.min(i + 1, bytes.length));
  return Uint8Array.from([bytes[0] ?? 0, ...vbi(body.length), ...body]);
}

function mutate(rand: () => number, source: Uint8Array): Uint8Array {
  const bytes = [...source];
  const edits = 1 + Math.floor(rand() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rand() * Math.max(1, bytes.length));
    switch (Math.floor(rand() * 6)) {
      case 0:
        bytes[at] ^= 1 << Math.floor(rand() * 8);
        break;
      case 1:
        bytes[at] = Math.floor(rand() * 256);
        break;
      case 2:
        bytes.splice(at, 0, Math.floor(rand() * 256));
        break;
      case 3:
        bytes.splice(at, 1);
        break;
      case 4:
        bytes.length = at;
        break;
      default:
        bytes.splice(at, 0, ...bytes.slice(at, at + 1 + Math.floor(rand() * 8)));
    }
  }
  const mutated = Uint8Array.from(bytes);
  // Half the time keep the Remaining Length honest so the parser, not the framing check, meets the damage.
  return rand() < 0.5 && mutated.length > 0 ? withLengthFixed(mutated) : mutated;
}

function randomBytes(rand: () => number, max: number): Uint8Array {
  const out = new Uint8Array(Math.floor(rand() * max));
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

describe('codec fuzzing', () => {
  it('every corpus packet decodes before mutation', () => {
    for (const [version, bytes] of CORPUS) {
      const isConnect = bytes[0] >> 4 === 1;
      const r = decodePacket(bytes, isConnect ? null : version);
      expect(r.ok).toBe(true);
      checkReencodes(r, version);
    }
  });

  it('decodePacket never throws on mutated packets', { timeout: 60_000 }, () => {
    const rand = seededRandom(SEED);
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const [version, source] = CORPUS[Math.floor(rand() * CORPUS.length)];
      const mutated = mutate(rand, source);
      const asked = rand() < 0.25 ? VERSIONS[Math.floor(rand() * VERSIONS.length)] : version;
      const r = decodePacket(mutated, asked);
      checkResult(r);
      if (r.ok) {
        accepted++;
        checkReencodes(r, asked ?? ((r.packet as { protocolVersion?: 3 | 4 | 5 }).protocolVersion as 3 | 4 | 5));
      }
    }
    // Many mutations land in payloads and stay valid; a fuzzer that accepts nothing tests nothing.
    expect(accepted).toBeGreaterThan(500);
    for (const [version, bytes] of CORPUS) expect(decodePacket(bytes, bytes[0] >> 4 === 1 ? null : version).ok).toBe(true);
  });

  it('decodePacket never throws on random bytes', { timeout: 60_000 }, () => {
    const rand = seededRandom(SEED + 1);
    for (let i = 0; i < 20_000; i++) {
      const raw = randomBytes(rand, 48);
      const bytes = rand() < 0.7 && raw.length > 0 ? withLengthFixed(raw) : raw;
      checkResult(decodePacket(bytes, VERSIONS[i % VERSIONS.length]));
    }
  });

  it('framer and decoder together only ever throw FrameError', { timeout: 60_000 }, () => {
    const rand = seededRandom(SEED + 2);
    let frameErrors = 0;
    let packets = 0;
    for (let round = 0; round < 2_000; round++) {
      const parts: Uint8Array[] = [];
      const count = 1 + Math.floor(rand() * 6);
      for (let i = 0; i < count; i++) {
        const pick = rand();
        const source = CORPUS[Math.floor(rand() * CORPUS.length)][1];
        parts.push(pick < 0.5 ? source : pick < 0.9 ? mutate(rand, source) : randomBytes(rand, 16));
      }
      const stream = Buffer.concat(parts);
      const framer = new PacketFramer(64 + Math.floor(rand() * 4096));
      let version: 3 | 4 | 5 | null = null;
      let offset = 0;
      while (offset < stream.length) {
        const size = 1 + Math.floor(rand() * 40);
        const chunk = stream.subarray(offset, offset + size);
        offset += size;
        let out: Uint8Array[];
        try {
          out = framer.push(chunk);
        } catch (err) {
          expect(err).toBeInstanceOf(FrameError);
          expect(framer.bufferedBytes).toBe(0);
          frameErrors++;
          break;
        }
        for (const raw of out) {
          packets++;
          const r = decodePacket(raw, version);
          checkResult(r);
          if (r.ok && version === null) version = ((r.packet as Packet & { protocolVersion?: number }).protocolVersion ?? 4) as 3 | 4 | 5;
        }
      }
    }
    expect(frameErrors).toBeGreaterThan(0);
    expect(packets).toBeGreaterThan(2_000);
  });
});
