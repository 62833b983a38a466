import { Buffer } from 'node:buffer';
import * as mqtt from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { decodePacket } from './decode';
import { encodePacket, encodePublish311, isPublish311Qos0AsEncoded } from './encode';

/** Parses with plain mqtt-packet, as a client would: server-to-client packets are not decodePacket's business. */
function parseAsClient(bytes: Uint8Array, protocolVersion: 3 | 4 | 5): Record<string, unknown> {
  const parser = mqtt.parser({ protocolVersion });
  const packets: Packet[] = [];
  const errors: Error[] = [];
  parser.on('packet', (p: Packet) => packets.push(p));
  parser.on('error', (e: Error) => errors.push(e));
  parser.parse(Buffer.from(bytes));
  expect(errors).toEqual([]);
  expect(packets).toHaveLength(1);
  const { length: _length, ...rest } = packets[0] as unknown as Record<string, unknown>;
  return rest;
}

function roundTrip(packet: Record<string, unknown>, protocolVersion: 3 | 4 | 5): Record<string, unknown> {
  const bytes = encodePacket(packet as unknown as Packet, protocolVersion);
  expect(bytes).toBeInstanceOf(Uint8Array);
  return parseAsClient(bytes, protocolVersion);
}

describe('encodePacket round trips (server to client)', () => {
  it('CONNACK 5.0 with every server property', () => {
    const properties = {
      sessionExpiryInterval: 3600,
      receiveMaximum: 100,
      maximumQoS: 1,
      retainAvailable: true,
      maximumPacketSize: 262144,
      assignedClientIdentifier: 'edgemq-1f2e',
      topicAliasMaximum: 16,
      reasonString: 'welcome',
      userProperties: { region: 'weur', tags: ['a', 'b'] },
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: false,
      sharedSubscriptionAvailable: true,
      serverKeepAlive: 45,
      responseInformation: 'resp/',
      serverReference: 'other.example',
      authenticationMethod: 'SCRAM',
      authenticationData: Buffer.from([1, 2, 3]),
    };
    expect(roundTrip({ cmd: 'connack', sessionPresent: true, reasonCode: 0, properties }, 5)).toMatchObject({
      cmd: 'connack',
      sessionPresent: true,
      reasonCode: 0,
      properties: { ...properties, userProperties: { region: 'weur', tags: ['a', 'b'] } },
    });
  });

  it('CONNACK refusals in 5.0 and 3.1.1', () => {
    expect(roundTrip({ cmd: 'connack', sessionPresent: false, reasonCode: 0x84 }, 5)).toMatchObject({ reasonCode: 0x84, sessionPresent: false });
    expect(roundTrip({ cmd: 'connack', sessionPresent: false, returnCode: 1 }, 4)).toMatchObject({ returnCode: 1 });
    expect(roundTrip({ cmd: 'connack', sessionPresent: true, returnCode: 0 }, 3)).toMatchObject({ returnCode: 0, sessionPresent: true });
  });

  it('PUBLISH 5.0 with several Subscription Identifiers, user properties and correlation data', () => {
    const properties = {
      payloadFormatIndicator: true,
      messageExpiryInterval: 10,
      topicAlias: 2,
      responseTopic: 'reply/to',
      correlationData: Buffer.from([0xca, 0xfe]),
      userProperties: { a: '1', b: ['2', '3'] },
      subscriptionIdentifier: [1, 300, 268435455],
      contentType: 'text/plain',
    };
    expect(roundTrip({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('hello'), qos: 2, messageId: 77, dup: true, retain: true, properties }, 5)).toMatchObject({
      topic: 'a/b',
      payload: Buffer.from('hello'),
      qos: 2,
      messageId: 77,
      dup: true,
      retain: true,
      properties,
    });
    expect(roundTrip({ cmd: 'publish', topic: 'x', payload: Buffer.alloc(0), qos: 0, properties: { subscriptionIdentifier: 5 } }, 5)).toMatchObject({
      properties: { subscriptionIdentifier: 5 },
    });
  });

  it('PUBLISH with Uint8Array payload and correlation data, which mqtt-packet alone cannot write', () => {
    const payload = new Uint8Array([9, 8, 7, 6]).subarray(1);
    const correlationData = new Uint8Array([1, 2, 3]);
    expect(roundTrip({ cmd: 'publish', topic: 't', payload, qos: 1, messageId: 1, properties: { correlationData } }, 5)).toMatchObject({
      payload: Buffer.from([8, 7, 6]),
      properties: { correlationData: Buffer.from([1, 2, 3]) },
    });
    expect(roundTrip({ cmd: 'publish', topic: 't', payload, qos: 0 }, 4)).toMatchObject({ payload: Buffer.from([8, 7, 6]) });
  });

  it('PUBLISH 3.1.1 drops properties', () => {
    const bytes = encodePacket({ cmd: 'publish', topic: 't', payload: 'x', qos: 0, dup: false, retain: false, properties: { userProperties: { a: 'b' } } }, 4);
    expect([...bytes]).toEqual([0x30, 0x04, 0x00, 0x01, 0x74, 0x78]);
  });

  it('acknowledgements in both versions', () => {
    for (const cmd of ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const) {
      expect(roundTrip({ cmd, messageId: 12 }, 4)).toMatchObject({ cmd, messageId: 12 });
      expect(roundTrip({ cmd, messageId: 13, reasonCode: 0 }, 5)).toMatchObject({ cmd, messageId: 13, reasonCode: 0 });
    }
    // Success without properties takes the two-byte form.
    expect([...encodePacket({ cmd: 'puback', messageId: 1, reasonCode: 0 }, 5)]).toEqual([0x40, 0x02, 0x00, 0x01]);
    expect(roundTrip({ cmd: 'puback', messageId: 2, reasonCode: 0x10 }, 5)).toMatchObject({ reasonCode: 0x10 });
    expect(roundTrip({ cmd: 'pubrec', messageId: 3, reasonCode: 0x97, properties: { reasonString: 'quota' } }, 5)).toMatchObject({
      reasonCode: 0x97,
      properties: { reasonString: 'quota' },
    });
    expect(roundTrip({ cmd: 'pubcomp', messageId: 4, reasonCode: 0x92 }, 5)).toMatchObject({ reasonCode: 0x92 });
  });

  it('SUBACK with failure codes', () => {
    const v5 = [0x00, 0x01, 0x02, 0x80, 0x87, 0x8f, 0x97, 0x9e, 0xa1, 0xa2];
    expect(roundTrip({ cmd: 'suback', messageId: 5, granted: v5, properties: { reasonString: 'partly' } }, 5)).toMatchObject({
      messageId: 5,
      granted: v5,
      properties: { reasonString: 'partly' },
    });
    expect(roundTrip({ cmd: 'suback', messageId: 6, granted: [0, 1, 2, 0x80] }, 4)).toMatchObject({ granted: [0, 1, 2, 0x80] });
    expect(roundTrip({ cmd: 'suback', messageId: 7, granted: [0x80] }, 3)).toMatchObject({ granted: [0x80] });
  });

  it('UNSUBACK in both versions', () => {
    expect(roundTrip({ cmd: 'unsuback', messageId: 8, granted: [0x00, 0x11, 0x87] }, 5)).toMatchObject({ granted: [0x00, 0x11, 0x87] });
    expect([...encodePacket({ cmd: 'unsuback', messageId: 9 } as Packet, 4)]).toEqual([0xb0, 0x02, 0x00, 0x09]);
  });

  it('PINGRESP', () => {
    expect([...encodePacket({ cmd: 'pingresp' }, 4)]).toEqual([0xd0, 0x00]);
    expect([...encodePacket({ cmd: 'pingresp' }, 5)]).toEqual([0xd0, 0x00]);
  });

  it('DISCONNECT with a reason code and properties', () => {
    expect(roundTrip({ cmd: 'disconnect', reasonCode: 0x8e, properties: { reasonString: 'taken over', serverReference: 'b.example', sessionExpiryInterval: 0 } }, 5)).toMatchObject({
      reasonCode: 0x8e,
      properties: { reasonString: 'taken over', serverReference: 'b.example', sessionExpiryInterval: 0 },
    });
    expect(roundTrip({ cmd: 'disconnect', reasonCode: 0x81 }, 5)).toMatchObject({ reasonCode: 0x81 });
    expect([...encodePacket({ cmd: 'disconnect' }, 4)]).toEqual([0xe0, 0x00]);
  });

  it('AUTH', () => {
    const properties = { authenticationMethod: 'SCRAM', authenticationData: Buffer.from([4, 5]), reasonString: 'more' };
    expect(roundTrip({ cmd: 'auth', reasonCode: 0x18, properties }, 5)).toMatchObject({ reasonCode: 0x18, properties });
  });
});

describe('encodePacket round trips (client to server, through decodePacket)', () => {
  const cases: Array<[3 | 4 | 5, Record<string, unknown>]> = [
    [5, { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'c', clean: true, keepalive: 5, properties: { sessionExpiryInterval: 9 } }],
    [4, { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'c', clean: true, keepalive: 5, username: 'u', password: new Uint8Array([1]) }],
    [5, { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 1, nl: true, rap: true, rh: 1 }], properties: { subscriptionIdentifier: 4 } }],
    [4, { cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['a', 'b'] }],
    [5, { cmd: 'publish', topic: 'p', payload: 'q', qos: 1, messageId: 3, properties: { userProperties: { k: 'v' } } }],
    [5, { cmd: 'pingreq' }],
  ];
  for (const [version, packet] of cases) {
    it(`${packet.cmd} ${version}`, () => {
      const bytes = encodePacket(packet as unknown as Packet, version);
      const decoded = decodePacket(bytes, packet.cmd === 'connect' ? null : version);
      expect(decoded.ok).toBe(true);
      if (decoded.ok) expect(encodePacket(decoded.packet, version)).toEqual(bytes);
    });
  }
});

describe('encodePacket on invalid input', () => {
  it('throws instead of writing a truncated or empty packet', () => {
    expect(() => encodePacket({ cmd: 'publish', topic: 't', payload: 'x', qos: 1, messageId: 70000, dup: false, retain: false }, 4)).toThrow();
    expect(() => encodePacket({ cmd: 'publish', topic: 'x'.repeat(70000), payload: 'x', qos: 0, dup: false, retain: false }, 4)).toThrow();
    expect(() => encodePacket({ cmd: 'suback', messageId: 1, properties: { reasonString: 'x'.repeat(70000) }, granted: [0] }, 5)).toThrow();
  });

  it('throws on a missing or out-of-range packet identifier', () => {
    expect(() => encodePacket({ cmd: 'publish', topic: 't', payload: 'x', qos: 1, dup: false, retain: false }, 4)).toThrow(/packet identifier/);
    expect(() => encodePacket({ cmd: 'publish', topic: 't', payload: 'x', qos: 2, messageId: 0, dup: false, retain: false }, 5)).toThrow(/packet identifier/);
    expect(() => encodePacket({ cmd: 'puback', messageId: 1.5 }, 4)).toThrow(/packet identifier/);
    expect(() => encodePacket({ cmd: 'suback', granted: [0] } as unknown as Packet, 4)).toThrow(/packet identifier/);
  });

  it('throws on fields mqtt-packet rejects', () => {
    expect(() => encodePacket({ cmd: 'connack', sessionPresent: false, reasonCode: 0 }, 4)).toThrow();
    expect(() => encodePacket({ cmd: 'auth', reasonCode: 0 }, 4)).toThrow();
    expect(() => encodePacket({ cmd: 'suback', messageId: 1, granted: [] }, 4)).toThrow();
    expect(() => encodePacket({ cmd: 'nonsense' } as unknown as Packet, 4)).toThrow();
    expect(() => encodePacket({ cmd: 'puback', messageId: 1, properties: { bogus: 1 } } as unknown as Packet, 5)).toThrow();
  });

  it('leaves out an empty User Property map rather than failing', () => {
    const bytes = encodePacket({ cmd: 'connack', sessionPresent: false, reasonCode: 0, properties: { userProperties: {}, receiveMaximum: 5 } }, 5);
    expect(parseAsClient(bytes, 5)).toMatchObject({ properties: { receiveMaximum: 5 } });
    expect(parseAsClient(bytes, 5).properties).not.toHaveProperty('userProperties');
  });

  it('does not modify the packet it is given', () => {
    const packet = {
      cmd: 'publish' as const,
      topic: 't',
      payload: new Uint8Array([1]),
      qos: 1 as const,
      messageId: 1,
      dup: false,
      retain: false,
      properties: { correlationData: new Uint8Array([2]), userProperties: {} },
    };
    const before = structuredClone(packet);
    encodePacket(packet as unknown as Packet, 5);
    expect(packet).toEqual(before);
    expect(Buffer.isBuffer(packet.payload)).toBe(false);
  });
});

describe('success acknowledgements in MQTT 5', () => {
  it('use the two-byte form when no reason code is given', async () => {
    const { encodePacket } = await import('./encode');
    for (const cmd of ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const) {
      const bytes = encodePacket({ cmd, messageId: 7 } as never, 5);
      expect([...bytes.subarray(1)]).toEqual([0x02, 0x00, 0x07]);
    }
  });
});

describe('PUBLISH and acknowledgements in 3.1/3.1.1', () => {
  it('are the bytes mqtt-packet writes, for every QoS, flag, topic and payload size', () => {
    const topics = ['a', 'bench/tp/123-4', 'sensors/ü/temp', `${'x'.repeat(300)}/y`];
    const payloads = [0, 1, 64, 200, 20_000].map((n) => new Uint8Array(n).fill(0x61));
    for (const protocolVersion of [3, 4] as const) {
      for (const qos of [0, 1, 2] as const) {
        for (const retain of [false, true]) {
          for (const dup of [false, true]) {
            for (const topic of topics) {
              for (const payload of payloads) {
                const packet = { cmd: 'publish', topic, payload, qos, retain, dup, ...(qos > 0 ? { messageId: 0xbeef } : {}) } as Packet;
                const expected = mqtt.generate({ ...packet, payload: Buffer.from(payload) } as Packet, { protocolVersion });
                expect(Buffer.from(encodePacket(packet, protocolVersion)).equals(expected)).toBe(true);
              }
            }
          }
        }
      }
      for (const cmd of ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const) {
        const packet = { cmd, messageId: 0x0102 } as Packet;
        expect(Buffer.from(encodePacket(packet, protocolVersion)).equals(mqtt.generate(packet, { protocolVersion }))).toBe(true);
      }
      for (const sessionPresent of [false, true]) {
        for (const returnCode of [0, 1, 2, 3, 4, 5]) {
          const packet = { cmd: 'connack', sessionPresent, returnCode } as Packet;
          expect([...encodePacket(packet, protocolVersion)]).toEqual([...mqtt.generate(packet, { protocolVersion })]);
        }
      }
    }
  });

  it('tell a QoS 0 PUBLISH that arrived as encodePublish311 would write it from one that did not', () => {
    const topics = ['a', 'bench/tp/123-4', 'sensors/ü/temp', `${'x'.repeat(300)}/y`];
    // Remaining Lengths of one, two and three bytes.
    const payloads = [0, 64, 200, 20_000].map((n) => new Uint8Array(n).fill(0x61));
    for (const topic of topics) {
      for (const payload of payloads) {
        const arrived = new Uint8Array(mqtt.generate({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: false, dup: false }, { protocolVersion: 4 }));
        const ascii = !topic.includes('ü');
        expect(isPublish311Qos0AsEncoded(arrived, topic)).toBe(ascii);
        expect([...encodePublish311(topic, payload, 0, false, false, undefined)!]).toEqual([...arrived]);
        const retained = new Uint8Array(mqtt.generate({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: true, dup: false }, { protocolVersion: 4 }));
        expect(isPublish311Qos0AsEncoded(retained, topic)).toBe(false);
        const atQos1 = new Uint8Array(mqtt.generate({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, messageId: 1, retain: false, dup: false }, { protocolVersion: 4 }));
        expect(isPublish311Qos0AsEncoded(atQos1, topic)).toBe(false);
      }
    }
    // A Remaining Length of 5 in two bytes, and a topic that is not the one decoded from the bytes.
    expect(isPublish311Qos0AsEncoded(Uint8Array.from([0x30, 0x85, 0x00, 0x00, 0x01, 0x74, 0x01, 0x02]), 't')).toBe(false);
    expect(isPublish311Qos0AsEncoded(Uint8Array.from([0x30, 0x05, 0x00, 0x01, 0x74, 0x01, 0x02]), 'tt')).toBe(false);
    expect(isPublish311Qos0AsEncoded(Uint8Array.from([0x30, 0x05, 0x00, 0x01, 0x74, 0x01, 0x02]), 'u')).toBe(false);
    expect(isPublish311Qos0AsEncoded(Uint8Array.from([0x30, 0x03, 0x00, 0x05, 0x74]), 'ttttt')).toBe(false);
    expect(isPublish311Qos0AsEncoded(Uint8Array.from([0x30, 0x02, 0x00, 0x00]), '')).toBe(false);
    expect(isPublish311Qos0AsEncoded(Uint8Array.from([0x30, 0x05, 0x00, 0x01, 0x74, 0x01, 0x02]), 't')).toBe(true);
    // A Remaining Length of four bytes.
    const large = new Uint8Array(3_000_000).fill(0x62);
    const arrived = encodePublish311('t', large, 0, false, false, undefined)!;
    expect(arrived.byteLength - large.byteLength - 3).toBe(5);
    expect(isPublish311Qos0AsEncoded(arrived, 't')).toBe(true);
  });

  it('throw, as the general path does, on a CONNACK without a return code', () => {
    for (const returnCode of [undefined, '0']) {
      expect(() => encodePacket({ cmd: 'connack', sessionPresent: false, returnCode } as Packet, 4)).toThrow();
    }
  });
});
