import { describe, expect, it } from 'vitest';
import * as mqtt from 'mqtt-packet';
import { Buffer } from 'node:buffer';
import { decodePacket, type DecodeResult } from './decode';
import { connectWith, generate, packet as pkt, props, str, u16, u32, vbi } from './test-support';

const connect5 = () => new Uint8Array(mqtt.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'abc' } as mqtt.Packet, { protocolVersion: 5 }));

describe('decodePacket', () => {
  it('decodes a CONNECT before the version is known', () => {
    const r = decodePacket(connect5(), null);
    expect(r.ok && r.packet.cmd).toBe('connect');
  });

  it('refuses invalid UTF-8 and U+0000 in strings, and recovers for the next packet', () => {
    expect(decodePacket(new Uint8Array([0x30, 0x06, 0x00, 0x02, 0xc3, 0x28, 0x00, 0x78]), 5)).toMatchObject({ ok: false, reasonCode: 0x81 });
    expect(decodePacket(new Uint8Array([0x30, 0x05, 0x00, 0x02, 0x61, 0x00, 0x00]), 5)).toMatchObject({ ok: false, reasonCode: 0x81 });
    // Encoded surrogate (U+D800) is not UTF-8.
    expect(decodePacket(new Uint8Array([0x30, 0x06, 0x00, 0x03, 0xed, 0xa0, 0x80, 0x00]), 5)).toMatchObject({ ok: false });
    const after = decodePacket(connect5(), null);
    expect(after.ok).toBe(true);
  });

  it('refuses a first packet that is not CONNECT and an unsupported protocol level', () => {
    expect(decodePacket(new Uint8Array([0xc0, 0x00]), null)).toMatchObject({ ok: false, reasonCode: 0x82 });
    const level6 = new Uint8Array([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x06, 0x02, 0x00, 0x00, 0x00, 0x01, 0x78]);
    expect(decodePacket(level6, null)).toMatchObject({ ok: false, reasonCode: 0x84, connectProtocolVersion: 6 });
  });

  it('refuses DUP on QoS 0, packet id 0, empty SUBSCRIBE, reserved flags and trailing bytes', () => {
    expect(decodePacket(new Uint8Array([0x38, 0x04, 0x00, 0x01, 0x61, 0x78]), 4)).toMatchObject({ ok: false, reasonCode: 0x81 });
    expect(decodePacket(new Uint8Array([0x32, 0x06, 0x00, 0x01, 0x61, 0x00, 0x00, 0x78]), 4)).toMatchObject({ ok: false, reasonCode: 0x82 });
    expect(decodePacket(new Uint8Array([0x82, 0x02, 0x00, 0x01]), 4)).toMatchObject({ ok: false });
    expect(decodePacket(new Uint8Array([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00]), 4)).toMatchObject({ ok: false, reasonCode: 0x81 });
    expect(decodePacket(new Uint8Array([0x40, 0x03, 0x00, 0x01, 0x00]), 4)).toMatchObject({ ok: false, reasonCode: 0x81 });
  });

  it('never throws on random input', () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed);
    for (let i = 0; i < 5000; i++) {
      const bytes = new Uint8Array(2 + (rand() % 40));
      for (let j = 0; j < bytes.length; j++) bytes[j] = rand() & 0xff;
      bytes[1] = bytes.length - 2;
      const version = ([3, 4, 5, null] as const)[i % 4];
      const r = decodePacket(bytes, version);
      expect(typeof r.ok).toBe('boolean');
    }
    expect(decodePacket(connect5(), null).ok).toBe(true);
  });
});

// ---------------------------------------------------------------------------
// Round trips and each strict rule, one at a time.


const MALFORMED = 0x81;
const PROTOCOL_ERROR = 0x82;

function ok(r: DecodeResult): mqtt.Packet {
  if (!r.ok) throw new Error(`expected success, got 0x${r.reasonCode.toString(16)}: ${r.message}`);
  return r.packet;
}

function refused(r: DecodeResult, reasonCode: number): string {
  if (r.ok) throw new Error(`expected 0x${reasonCode.toString(16)}, got a ${r.packet.cmd}`);
  expect({ reasonCode: r.reasonCode, message: r.message }).toEqual({ reasonCode, message: expect.any(String) });
  return r.message;
}

/** A v5 QoS 0 PUBLISH to "t" carrying the given property bytes. */
function publish5(...properties: number[][]): Uint8Array {
  return pkt(0x30, str('t'), props(...properties), [0x78]);
}

const INVALID_UTF8: Array<[string, number[]]> = [
  ['an overlong encoding of "/"', [0xc0, 0xaf]],
  ['an overlong encoding of U+0000', [0xc0, 0x80]],
  ['an encoded surrogate U+D800', [0xed, 0xa0, 0x80]],
  ['a truncated sequence', [0x61, 0xe2, 0x82]],
  ['a lone continuation byte', [0x80]],
  ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ['U+0000', [0x61, 0x00, 0x62]],
];

describe('decodePacket: packets only a server sends', () => {
  // A well-formed body and a broken one get the same answer: the fixed header decides.
  const cases: Array<[string, number[], number[]]> = [
    ['CONNACK', [0x20, 0x02, 0x00, 0x00], [0x20, 0x02, 0xff, 0x00]],
    ['SUBACK', [0x90, 0x03, 0x00, 0x01, 0x00], [0x90, 0x00]],
    ['UNSUBACK', [0xb0, 0x02, 0x00, 0x01], [0xb0, 0x01, 0x00]],
    ['PINGRESP', [0xd0, 0x00], [0xd0, 0x01, 0x00]],
  ];
  for (const [name, wellFormed, broken] of cases) {
    it(`refuses ${name} from a client as a Protocol Error, whatever its body`, () => {
      for (const version of [4, 5] as const) {
        for (const bytes of [wellFormed, broken]) {
          const r = decodePacket(new Uint8Array(bytes), version);
          expect(r).toMatchObject({ ok: false, reasonCode: 0x82 });
          expect(r.ok === false && r.message).toContain(name);
        }
      }
    });
  }
});

describe('decodePacket: zero-length topic filters [MQTT-4.7.3-1]', () => {
  it('refuses a SUBSCRIBE with an empty filter among good ones, in 3.1.1 and 5.0', () => {
    expect(decodePacket(new Uint8Array([0x82, 0x09, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00, 0x00, 0x00, 0x00]), 4)).toMatchObject({ ok: false, reasonCode: 0x82 });
    expect(decodePacket(new Uint8Array([0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00]), 5)).toMatchObject({ ok: false, reasonCode: 0x82 });
  });

  it('refuses an UNSUBSCRIBE with an empty filter, in 3.1.1 and 5.0', () => {
    expect(decodePacket(new Uint8Array([0xa2, 0x04, 0x00, 0x01, 0x00, 0x00]), 4)).toMatchObject({ ok: false, reasonCode: 0x82 });
    expect(decodePacket(new Uint8Array([0xa2, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00]), 5)).toMatchObject({ ok: false, reasonCode: 0x82 });
  });
});

describe('decodePacket: filters that break the wildcard rules', () => {
  const subscribe = (version: 4 | 5, filter: string) => new Uint8Array(mqtt.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ok/+', qos: 0 }, { topic: filter, qos: 1 }] } as mqtt.Packet, { protocolVersion: version }));
  const unsubscribe = (version: 4 | 5, filter: string) => new Uint8Array(mqtt.generate({ cmd: 'unsubscribe', messageId: 1, unsubscriptions: [filter] } as mqtt.Packet, { protocolVersion: version }));

  for (const filter of ['a/#/b', 'sport+', '#a']) {
    it(`closes 3.1.1 on ${JSON.stringify(filter)} [MQTT-4.7.1-2], [MQTT-4.7.1-3], and leaves 5.0 to answer per filter`, () => {
      expect(decodePacket(subscribe(4, filter), 4)).toMatchObject({ ok: false, reasonCode: 0x82, message: expect.stringMatching(/^SUBSCRIBE with an invalid topic filter/) });
      expect(decodePacket(unsubscribe(4, filter), 4)).toMatchObject({ ok: false, reasonCode: 0x82, message: expect.stringMatching(/^UNSUBSCRIBE with an invalid topic filter/) });
      expect(decodePacket(subscribe(5, filter), 5)).toMatchObject({ ok: true });
      expect(decodePacket(unsubscribe(5, filter), 5)).toMatchObject({ ok: true });
    });
  }

  it('accepts valid wildcards and shared subscriptions in 3.1.1', () => {
    for (const filter of ['a/+/b', '#', '+', 'a/#', '$share/g/a/#']) expect(decodePacket(subscribe(4, filter), 4)).toMatchObject({ ok: true });
  });
});

/**
 * A PUBLISH read directly carries its payload as a plain view of the packet's
 * bytes; mqtt-packet's objects hold a Buffer. Compared as mqtt-packet's.
 */
function withBufferPayload<T>(decoded: T): T {
  const { payload } = decoded as { payload?: unknown };
  if (!(payload instanceof Uint8Array) || Buffer.isBuffer(payload)) return decoded;
  return { ...decoded, payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength) };
}

describe('decodePacket round trips', () => {
  const cases: Array<[string, 3 | 4 | 5, Record<string, unknown>]> = [
    ['MQTT 3.1 CONNECT', 3, { cmd: 'connect', protocolId: 'MQIsdp', protocolVersion: 3, clientId: 'c31', clean: true, keepalive: 10 }],
    [
      '3.1.1 CONNECT with will, user name and password',
      4,
      {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clientId: 'c',
        clean: false,
        keepalive: 65535,
        username: 'ü-user',
        password: Buffer.from([0xff, 0x00, 0xfe]),
        will: { topic: 'w/t', payload: Buffer.from([0, 1, 2]), qos: 2, retain: true },
      },
    ],
    [
      '5.0 CONNECT with properties and will properties',
      5,
      {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 5,
        clientId: '',
        clean: true,
        keepalive: 0,
        username: 'u',
        password: Buffer.from('secret'),
        properties: {
          sessionExpiryInterval: 0xffffffff,
          receiveMaximum: 20,
          maximumPacketSize: 1 << 20,
          topicAliasMaximum: 10,
          requestResponseInformation: true,
          requestProblemInformation: false,
          userProperties: { a: ['1', '2'], b: '3' },
          authenticationMethod: 'SCRAM',
          authenticationData: Buffer.from([9, 9]),
        },
        will: {
          topic: 'bye',
          payload: Buffer.from('gone'),
          qos: 1,
          retain: false,
          properties: {
            willDelayInterval: 5,
            payloadFormatIndicator: true,
            messageExpiryInterval: 60,
            contentType: 'text/plain',
            responseTopic: 'r/t',
            correlationData: Buffer.from([0xde, 0xad]),
            userProperties: { k: 'v' },
          },
        },
      },
    ],
    ['3.1.1 PUBLISH QoS 0', 4, { cmd: 'publish', topic: 'a/b', payload: Buffer.from('hi'), qos: 0, retain: true, dup: false }],
    ['3.1.1 PUBLISH QoS 2 DUP', 4, { cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(0), qos: 2, dup: true, retain: false, messageId: 65535 }],
    [
      '5.0 PUBLISH with properties',
      5,
      {
        cmd: 'publish',
        topic: '',
        payload: Buffer.from('{}'),
        qos: 1,
        messageId: 7,
        dup: false,
        retain: false,
        properties: {
          payloadFormatIndicator: true,
          messageExpiryInterval: 30,
          topicAlias: 3,
          responseTopic: 'reply',
          correlationData: Buffer.from([1]),
          userProperties: { 'x-trace': 'abc' },
          contentType: 'application/json',
        },
      },
    ],
    ['3.1.1 PUBACK', 4, { cmd: 'puback', messageId: 1 }],
    ['5.0 PUBACK short form', 5, { cmd: 'puback', messageId: 2, reasonCode: 0 }],
    ['5.0 PUBREC with reason and properties', 5, { cmd: 'pubrec', messageId: 3, reasonCode: 0x10, properties: { reasonString: 'none', userProperties: { a: 'b' } } }],
    ['5.0 PUBREL', 5, { cmd: 'pubrel', messageId: 4, reasonCode: 0x92 }],
    ['3.1.1 PUBCOMP', 4, { cmd: 'pubcomp', messageId: 5 }],
    ['3.1.1 SUBSCRIBE', 4, { cmd: 'subscribe', messageId: 6, subscriptions: [{ topic: 'a/+', qos: 1 }, { topic: '#', qos: 2 }] }],
    [
      '5.0 SUBSCRIBE with options and identifier',
      5,
      {
        cmd: 'subscribe',
        messageId: 8,
        subscriptions: [
          { topic: '$share/g/x', qos: 2, nl: false, rap: true, rh: 2 },
          { topic: 'y', qos: 0, nl: true, rap: false, rh: 1 },
        ],
        properties: { subscriptionIdentifier: 268435455, userProperties: { s: 't' } },
      },
    ],
    ['3.1.1 UNSUBSCRIBE', 4, { cmd: 'unsubscribe', messageId: 9, unsubscriptions: ['a', 'b/#'] }],
    ['5.0 UNSUBSCRIBE', 5, { cmd: 'unsubscribe', messageId: 10, unsubscriptions: ['a'], properties: { userProperties: { u: 'v' } } }],
    ['PINGREQ', 4, { cmd: 'pingreq' }],
    ['3.1.1 DISCONNECT', 4, { cmd: 'disconnect' }],
    ['5.0 DISCONNECT with properties', 5, { cmd: 'disconnect', reasonCode: 0x04, properties: { sessionExpiryInterval: 0, reasonString: 'bye' } }],
    ['5.0 AUTH', 5, { cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'SCRAM', authenticationData: Buffer.from([1, 2]) } }],
  ];

  for (const [name, version, input] of cases) {
    it(name, () => {
      const raw = generate(input, version);
      const decoded = withBufferPayload(ok(decodePacket(raw, input.cmd === 'connect' ? null : version))) as unknown as Record<string, unknown>;
      const { length: _length, ...comparable } = decoded;
      expect(comparable).toMatchObject(input);
      expect(mqtt.generate(decoded as unknown as mqtt.Packet, { protocolVersion: version })).toEqual(Buffer.from(raw));
    });
  }

  it('accepts the short forms of 5.0 DISCONNECT and AUTH', () => {
    expect(ok(decodePacket(Uint8Array.from([0xe0, 0x00]), 5))).toMatchObject({ cmd: 'disconnect', reasonCode: 0 });
    expect(ok(decodePacket(Uint8Array.from([0xe0, 0x01, 0x04]), 5))).toMatchObject({ cmd: 'disconnect', reasonCode: 4 });
    // Remaining Length 0 means Success with no properties (spec 3.15.2.1); mqtt-packet alone refuses it.
    expect(ok(decodePacket(Uint8Array.from([0xf0, 0x00]), 5))).toMatchObject({ cmd: 'auth', reasonCode: 0 });
    expect(ok(decodePacket(Uint8Array.from([0xf0, 0x01, 0x18]), 5))).toMatchObject({ cmd: 'auth', reasonCode: 0x18 });
  });

  it('returns the PUBLISH payload and binary properties as views of the packet, not copies', () => {
    const raw = generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(1000, 7), qos: 0, properties: { correlationData: Buffer.from([1, 2]) } }, 5);
    const p = ok(decodePacket(raw, 5)) as mqtt.IPublishPacket;
    const payload = p.payload as Buffer;
    expect(payload.buffer).toBe(raw.buffer);
    expect(payload.byteOffset).toBe(raw.length - 1000);
    expect((p.properties!.correlationData as Buffer).buffer).toBe(raw.buffer);
  });

  it('keeps a BOM and accepts valid non-ASCII strings, including noncharacters [MQTT-1.5.4-3]', () => {
    const p = ok(decodePacket(pkt(0x30, str([0xef, 0xbb, 0xbf, 0x61, 0xf0, 0x9f, 0x98, 0x80, 0xef, 0xbf, 0xbf]), [1]), 4)) as mqtt.IPublishPacket;
    expect(p.topic).toBe('\ufeffa😀\uffff');
  });

  it('keeps repeated user properties in order', () => {
    const raw = publish5([38, ...str('k'), ...str('1')], [38, ...str('k'), ...str('2')], [38, ...str('j'), ...str('')], [38, ...str('j'), ...str('3')]);
    const p = ok(decodePacket(raw, 5)) as mqtt.IPublishPacket;
    expect({ ...p.properties!.userProperties }).toEqual({ k: ['1', '2'], j: ['', '3'] });
  });
});

describe('decodePacket: the first packet', () => {
  it('accepts only a CONNECT [MQTT-3.1.0-1]', () => {
    refused(decodePacket(generate({ cmd: 'publish', topic: 't', payload: 'x', qos: 0 }, 4), null), PROTOCOL_ERROR);
    refused(decodePacket(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't', qos: 0 }] }, 5), null), PROTOCOL_ERROR);
  });

  it('refuses unsupported protocol levels with 0x84 and reports the level sent', () => {
    for (const level of [0, 2, 6, 0x83, 0x84, 0x85, 255]) {
      const raw = pkt(0x10, str('MQTT'), [level, 0x02], u16(0), str('id'));
      expect(decodePacket(raw, null)).toEqual({ ok: false, reasonCode: 0x84, message: expect.any(String), connectProtocolVersion: level });
    }
  });

  it('refuses a protocol name that does not go with the level', () => {
    expect(decodePacket(pkt(0x10, str('MQTT'), [3, 0x02], u16(0), str('id')), null)).toMatchObject({ ok: false, reasonCode: 0x84, connectProtocolVersion: 3 });
    expect(decodePacket(pkt(0x10, str('MQIsdp'), [4, 0x02], u16(0), str('id')), null)).toMatchObject({ ok: false, reasonCode: 0x84, connectProtocolVersion: 4 });
    expect(decodePacket(pkt(0x10, str('HTTP'), [5, 0x02], u16(0), [0], str('id')), null)).toMatchObject({ ok: false, reasonCode: 0x84, connectProtocolVersion: 5 });
  });

  it('calls a CONNECT too short to hold a name and level malformed', () => {
    refused(decodePacket(Uint8Array.from([0x10, 0x00]), null), MALFORMED);
    refused(decodePacket(pkt(0x10, [0x00, 0x04, 0x4d, 0x51]), null), MALFORMED);
  });
});

describe('decodePacket: CONNECT rules', () => {
  it('refuses the reserved flag [MQTT-3.1.2-3]', () => {
    refused(decodePacket(connectWith(4, 0x03, [str('id')]), null), MALFORMED);
    refused(decodePacket(connectWith(5, 0x03, [str('id')]), null), MALFORMED);
  });

  it('refuses Will QoS 3', () => {
    refused(decodePacket(connectWith(4, 0x1e, [str('id'), str('w'), str('p')]), null), MALFORMED);
    refused(decodePacket(connectWith(5, 0x1e, [str('id'), [0], str('w'), str('p')]), null), MALFORMED);
  });

  it('refuses Will QoS or Will Retain without the Will Flag', () => {
    refused(decodePacket(connectWith(4, 0x0a, [str('id')]), null), MALFORMED);
    refused(decodePacket(connectWith(4, 0x22, [str('id')]), null), MALFORMED);
    refused(decodePacket(connectWith(5, 0x12, [str('id')]), null), MALFORMED);
  });

  it('refuses a password without a user name before 5.0 only [MQTT-3.1.2-22]', () => {
    refused(decodePacket(connectWith(4, 0x42, [str('id'), str('pw')]), null), MALFORMED);
    refused(decodePacket(connectWith(3, 0x42, [str('id'), str('pw')]), null), MALFORMED);
    expect(ok(decodePacket(connectWith(5, 0x42, [str('id'), str('pw')]), null))).toMatchObject({ password: Buffer.from('pw') });
  });

  it('refuses missing or extra payload fields', () => {
    refused(decodePacket(connectWith(4, 0x82, [str('id')]), null), MALFORMED); // user name flag, no user name
    refused(decodePacket(connectWith(4, 0x06, [str('id'), str('w')]), null), MALFORMED); // will without payload
    refused(decodePacket(connectWith(4, 0x02, [str('id'), [0x00]]), null), MALFORMED);
    refused(decodePacket(connectWith(5, 0x02, [str('id')], []), null), MALFORMED); // no property length
  });

  it('refuses zero Receive Maximum and Maximum Packet Size, and Authentication Data alone', () => {
    refused(decodePacket(connectWith(5, 0x02, [str('id')], props([33, ...u16(0)])), null), PROTOCOL_ERROR);
    refused(decodePacket(connectWith(5, 0x02, [str('id')], props([39, ...u32(0)])), null), PROTOCOL_ERROR);
    refused(decodePacket(connectWith(5, 0x02, [str('id')], props([22, ...str([1])])), null), PROTOCOL_ERROR);
    ok(decodePacket(connectWith(5, 0x02, [str('id')], props([21, ...str('M')], [22, ...str([1])])), null));
  });

  it('refuses Request Problem/Response Information other than 0 or 1', () => {
    refused(decodePacket(connectWith(5, 0x02, [str('id')], props([23, 2])), null), PROTOCOL_ERROR);
    refused(decodePacket(connectWith(5, 0x02, [str('id')], props([25, 0xff])), null), PROTOCOL_ERROR);
    expect(ok(decodePacket(connectWith(5, 0x02, [str('id')], props([23, 0], [25, 1])), null))).toMatchObject({
      properties: { requestProblemInformation: false, requestResponseInformation: true },
    });
  });

  it('checks CONNECT and will properties against their own lists', () => {
    // Will Delay Interval belongs to the will, Session Expiry Interval to the CONNECT.
    refused(decodePacket(connectWith(5, 0x02, [str('id')], props([24, ...u32(1)])), null), MALFORMED);
    refused(decodePacket(connectWith(5, 0x06, [str('id'), props([17, ...u32(1)]), str('w'), str('p')]), null), MALFORMED);
    const p = ok(decodePacket(connectWith(5, 0x06, [str('id'), props([24, ...u32(1)]), str('w'), str('p')], props([17, ...u32(9)])), null));
    expect(p).toMatchObject({ properties: { sessionExpiryInterval: 9 }, will: { properties: { willDelayInterval: 1 } } });
  });

  it('does not validate the password or will payload as UTF-8: they are binary', () => {
    const p = ok(decodePacket(connectWith(5, 0xc6, [str('id'), [0], str('w'), str([0xc0, 0x80]), str('u'), str([0xed, 0xa0, 0x80, 0x00])]), null));
    expect(p).toMatchObject({ password: Buffer.from([0xed, 0xa0, 0x80, 0x00]), will: { payload: Buffer.from([0xc0, 0x80]) } });
  });
});

describe('decodePacket: strict UTF-8 in every string field [MQTT-1.5.4-1], [MQTT-1.5.4-2]', () => {
  const fields: Array<[string, 3 | 4 | 5 | null, (bad: number[]) => Uint8Array]> = [
    ['3.1.1 client identifier', null, (bad) => connectWith(4, 0x02, [str(bad)])],
    ['5.0 client identifier', null, (bad) => connectWith(5, 0x02, [str(bad)])],
    ['user name', null, (bad) => connectWith(4, 0x82, [str('id'), str(bad)])],
    ['will topic', null, (bad) => connectWith(4, 0x06, [str('id'), str(bad), str('p')])],
    ['PUBLISH topic', 4, (bad) => pkt(0x30, str(bad), [1, 2])],
    ['SUBSCRIBE filter', 5, (bad) => pkt(0x82, u16(1), [0], str(bad), [0])],
    ['UNSUBSCRIBE filter', 4, (bad) => pkt(0xa2, u16(1), str('ok'), str(bad))],
    ['user property name', 5, (bad) => publish5([38, ...str(bad), ...str('v')])],
    ['user property value', 5, (bad) => publish5([38, ...str('k'), ...str(bad)])],
    ['content type', 5, (bad) => publish5([3, ...str(bad)])],
    ['response topic', 5, (bad) => publish5([8, ...str(bad)])],
    ['reason string', 5, (bad) => pkt(0x40, u16(1), [0x10], props([31, ...str(bad)]))],
    ['authentication method', null, (bad) => connectWith(5, 0x02, [str('id')], props([21, ...str(bad)]))],
    ['DISCONNECT server reference', 5, (bad) => pkt(0xe0, [0], props([28, ...str(bad)]))],
  ];

  for (const [field, version, build] of fields) {
    it(field, () => {
      expect(decodePacket(build([0x61, 0xc3, 0xa9]), version).ok).toBe(true);
      for (const [what, bad] of INVALID_UTF8) {
        const r = decodePacket(build(bad), version);
        expect(r, what).toMatchObject({ ok: false, reasonCode: MALFORMED });
      }
    });
  }
});

describe('decodePacket: fixed header and length', () => {
  it('refuses bytes that are not exactly one packet', () => {
    refused(decodePacket(Uint8Array.from([0xc0]), 4), MALFORMED);
    refused(decodePacket(Uint8Array.from([0xc0, 0x00, 0x00]), 4), MALFORMED);
    refused(decodePacket(Uint8Array.from([0x30, 0x05, 0x00, 0x01, 0x61]), 4), MALFORMED);
    refused(decodePacket(Uint8Array.from([0xc0, 0x80, 0x00]), 4), MALFORMED); // not minimal [MQTT-1.5.5-1]
    refused(decodePacket(Uint8Array.from([0xc0, 0x80, 0x80, 0x80, 0x80, 0x00]), 4), MALFORMED);
  });

  it('refuses reserved flag bits and packet types', () => {
    refused(decodePacket(Uint8Array.from([0xc1, 0x00]), 4), MALFORMED);
    refused(decodePacket(Uint8Array.from([0x60, 0x02, 0x00, 0x01]), 4), MALFORMED); // PUBREL's flags must be 0010
    refused(decodePacket(Uint8Array.from([0x00, 0x00]), 4), MALFORMED);
    refused(decodePacket(Uint8Array.from([0xf0, 0x00]), 4), MALFORMED); // AUTH before 5.0
  });

  it('refuses trailing bytes after the last field', () => {
    refused(decodePacket(Uint8Array.from([0xc0, 0x01, 0x00]), 4), MALFORMED);
    refused(decodePacket(Uint8Array.from([0xe0, 0x01, 0x00]), 4), MALFORMED);
    refused(decodePacket(Uint8Array.from([0x62, 0x03, 0x00, 0x01, 0x00]), 4), MALFORMED);
    refused(decodePacket(pkt(0x40, u16(1), [0x00], props(), [0x00]), 5), MALFORMED);
    refused(decodePacket(pkt(0xe0, [0x00], props(), [0x00]), 5), MALFORMED);
    refused(decodePacket(connectWith(4, 0x02, [str('id'), [0x00]]), null), MALFORMED);
  });

  it('refuses an acknowledgement without a packet identifier', () => {
    // mqtt-packet alone accepts these with messageId -1.
    refused(decodePacket(Uint8Array.from([0x40, 0x00]), 4), MALFORMED);
    refused(decodePacket(Uint8Array.from([0x40, 0x01, 0x00]), 4), MALFORMED);
    refused(decodePacket(Uint8Array.from([0x50, 0x01, 0x00]), 5), MALFORMED);
  });
});

describe('decodePacket: PUBLISH rules', () => {
  it('refuses DUP on QoS 0 [MQTT-3.3.1-2] and QoS 3', () => {
    refused(decodePacket(pkt(0x38, str('t')), 4), MALFORMED);
    refused(decodePacket(pkt(0x36, str('t'), u16(1)), 4), MALFORMED);
  });

  it('refuses packet identifier 0 on QoS 1 and 2 [MQTT-2.2.1-3]', () => {
    refused(decodePacket(pkt(0x32, str('t'), u16(0)), 4), PROTOCOL_ERROR);
    refused(decodePacket(pkt(0x34, str('t'), u16(0), props()), 5), PROTOCOL_ERROR);
    ok(decodePacket(pkt(0x34, str('t'), u16(1), props()), 5));
  });

  it('requires the property length in 5.0', () => {
    refused(decodePacket(pkt(0x30, str('t')), 5), MALFORMED);
    ok(decodePacket(pkt(0x30, str('t'), props()), 5));
  });

  it('refuses a Subscription Identifier from a client [MQTT-3.3.4-6]', () => {
    refused(decodePacket(publish5([11, 1]), 5), PROTOCOL_ERROR);
  });

  it('refuses Payload Format Indicator other than 0 or 1', () => {
    refused(decodePacket(publish5([1, 2]), 5), PROTOCOL_ERROR);
    expect(ok(decodePacket(publish5([1, 0]), 5))).toMatchObject({ properties: { payloadFormatIndicator: false } });
  });
});

describe('decodePacket: properties', () => {
  it('refuses a property length beyond the packet', () => {
    refused(decodePacket(pkt(0x30, str('t'), [0x05, 2, 0, 0, 0]), 5), MALFORMED);
  });

  it('refuses a value running past the property length', () => {
    // Property Length 3 but Message Expiry Interval needs 5 bytes; the payload must not be eaten.
    refused(decodePacket(pkt(0x30, str('t'), [0x03, 2, 0, 0, 0, 1, 0x78]), 5), MALFORMED);
    refused(decodePacket(pkt(0x30, str('t'), [0x03, 3, 0, 5, 0x61, 0x62, 0x63]), 5), MALFORMED);
  });

  it('refuses unknown properties and properties not valid for the packet (spec 2.2.2.2)', () => {
    refused(decodePacket(publish5([0x7f, 0]), 5), MALFORMED);
    refused(decodePacket(publish5([0, 0]), 5), MALFORMED);
    refused(decodePacket(publish5([17, ...u32(1)]), 5), MALFORMED);
    refused(decodePacket(pkt(0xa2, u16(1), props([11, 1]), str('t')), 5), MALFORMED);
    refused(decodePacket(pkt(0x40, u16(1), [0], props([3, ...str('x')])), 5), MALFORMED);
  });

  it('refuses a property included more than once', () => {
    refused(decodePacket(publish5([2, ...u32(1)], [2, ...u32(2)]), 5), PROTOCOL_ERROR);
    refused(decodePacket(pkt(0x82, u16(1), props([11, 1], [11, 2]), str('t'), [0]), 5), PROTOCOL_ERROR);
    refused(decodePacket(pkt(0xe0, [0], props([31, ...str('a')], [31, ...str('b')])), 5), PROTOCOL_ERROR);
  });

  it('refuses Subscription Identifier 0 and a non-minimal Variable Byte Integer', () => {
    refused(decodePacket(pkt(0x82, u16(1), props([11, 0]), str('t'), [0]), 5), PROTOCOL_ERROR);
    refused(decodePacket(pkt(0x82, u16(1), props([11, 0x81, 0x00]), str('t'), [0]), 5), MALFORMED);
    refused(decodePacket(pkt(0x82, u16(1), [0x80, 0x00], str('t'), [0]), 5), MALFORMED);
    expect(ok(decodePacket(pkt(0x82, u16(1), props([11, ...vbi(268435455)]), str('t'), [0]), 5))).toMatchObject({
      properties: { subscriptionIdentifier: 268435455 },
    });
  });
});

describe('decodePacket: SUBSCRIBE and UNSUBSCRIBE rules', () => {
  it('refuses a SUBSCRIBE without filters', () => {
    refused(decodePacket(pkt(0x82, u16(1)), 4), PROTOCOL_ERROR);
    refused(decodePacket(pkt(0x82, u16(1), props()), 5), PROTOCOL_ERROR);
  });

  it('refuses an UNSUBSCRIBE without filters [MQTT-3.10.3-2]', () => {
    refused(decodePacket(pkt(0xa2, u16(1)), 4), PROTOCOL_ERROR);
    refused(decodePacket(pkt(0xa2, u16(1), props()), 5), PROTOCOL_ERROR);
  });

  it('refuses packet identifier 0 [MQTT-2.2.1-3]', () => {
    refused(decodePacket(pkt(0x82, u16(0), str('t'), [0]), 4), PROTOCOL_ERROR);
    refused(decodePacket(pkt(0xa2, u16(0), str('t')), 4), PROTOCOL_ERROR);
    refused(decodePacket(pkt(0x40, u16(0)), 4), PROTOCOL_ERROR);
    refused(decodePacket(pkt(0x62, u16(0)), 5), PROTOCOL_ERROR);
  });

  it('refuses non-zero reserved bits in subscription options [MQTT-3.8.3-5]', () => {
    refused(decodePacket(pkt(0x82, u16(1), props(), str('t'), [0x40]), 5), MALFORMED);
    refused(decodePacket(pkt(0x82, u16(1), props(), str('t'), [0x80]), 5), MALFORMED);
    refused(decodePacket(pkt(0x82, u16(1), str('t'), [0x04]), 4), MALFORMED); // 3.1.1 has only QoS bits
  });

  it('refuses Retain Handling 3 and Maximum QoS 3', () => {
    refused(decodePacket(pkt(0x82, u16(1), props(), str('t'), [0x30]), 5), PROTOCOL_ERROR);
    refused(decodePacket(pkt(0x82, u16(1), props(), str('t'), [0x03]), 5), PROTOCOL_ERROR);
    refused(decodePacket(pkt(0x82, u16(1), str('t'), [0x03]), 4), MALFORMED);
  });

  it('refuses a filter without its options byte', () => {
    refused(decodePacket(pkt(0x82, u16(1), str('t')), 4), MALFORMED);
  });
});

describe('decodePacket: other packets', () => {
  it('refuses reason codes a packet cannot carry', () => {
    refused(decodePacket(Uint8Array.from([0xe0, 0x01, 0x05]), 5), MALFORMED);
    refused(decodePacket(pkt(0x40, u16(1), [0x01]), 5), MALFORMED);
    refused(decodePacket(Uint8Array.from([0xf0, 0x02, 0x01, 0x00]), 5), MALFORMED);
  });
});

describe('decodePacket: no state carried between calls', () => {
  it('parses 3.1.1 packets as 3.1.1 after decoding a 5.0 CONNECT on a 3.1.1 connection', () => {
    const connect5 = generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'x', clean: true, keepalive: 0 }, 5);
    ok(decodePacket(connect5, 4));
    expect(ok(decodePacket(pkt(0x82, u16(1), str('t'), [1]), 4))).toMatchObject({ subscriptions: [{ topic: 't', qos: 1 }] });
  });

  it('decodes back-to-back packets exactly as mqtt-packet parses them, without one leaking into the next', () => {
    const packets: Array<[3 | 4 | 5, Record<string, unknown>]> = [
      [4, { cmd: 'publish', topic: 'a/b', payload: Buffer.from('first'), qos: 1, messageId: 7, retain: true }],
      [4, { cmd: 'publish', topic: 'c', payload: Buffer.alloc(0), qos: 0 }],
      [4, { cmd: 'puback', messageId: 65535 }],
      [4, { cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'x/#', qos: 2 }, { topic: '+/y', qos: 0 }] }],
      [4, { cmd: 'pingreq' }],
      [5, { cmd: 'publish', topic: 't', payload: Buffer.alloc(300, 9), qos: 2, messageId: 3, properties: { contentType: 'c', userProperties: { k: ['1', '2'] } } }],
      [5, { cmd: 'pubrec', messageId: 4, reasonCode: 0x10, properties: { reasonString: 'none' } }],
      [5, { cmd: 'unsubscribe', messageId: 5, unsubscriptions: ['a', 'b'] }],
      [5, { cmd: 'disconnect', reasonCode: 0x04 }],
      [3, { cmd: 'publish', topic: 'v3', payload: Buffer.from('old'), qos: 1, messageId: 9 }],
    ];
    const decoded = packets.map(([v, p]) => withBufferPayload(ok(decodePacket(generate(p, v), v))));
    packets.forEach(([v, p], i) => {
      const reference = mqtt.parser({ protocolVersion: v });
      let expected: unknown;
      reference.on('packet', (packet: unknown) => (expected = packet));
      reference.parse(Buffer.from(generate(p, v)));
      expect({ ...decoded[i] }).toEqual({ ...(expected as object) });
    });
    // Each payload still holds its own bytes after later packets went through the same parser.
    expect(String((decoded[0] as mqtt.IPublishPacket).payload)).toBe('first');
    expect((decoded[5] as mqtt.IPublishPacket).payload).toEqual(Buffer.alloc(300, 9));
  });

  it('recovers after every kind of failure', () => {
    const good = generate({ cmd: 'publish', topic: 'a', payload: 'b', qos: 1, messageId: 1 }, 5);
    const failures = [
      pkt(0x30, str([0xc0, 0x80]), props()),
      pkt(0x30, str('t'), [0x03, 2, 0, 0, 0, 1]),
      Uint8Array.from([0x40, 0x01, 0x00]),
      Uint8Array.from([0x30, 0x05, 0x00]),
      pkt(0x82, u16(1), props(), str('t'), [0x30]),
    ];
    for (const bad of failures) {
      expect(decodePacket(bad, 5).ok).toBe(false);
      expect(ok(decodePacket(good, 5))).toMatchObject({ topic: 'a', messageId: 1 });
    }
  });
});

describe('decodePacket: PUBLISH and PUBACK in 3.1/3.1.1', () => {
  /** What mqtt-packet's own parser makes of the bytes. */
  function reference(bytes: Uint8Array, protocolVersion: 3 | 4): unknown {
    const parser = mqtt.parser({ protocolVersion });
    const packets: unknown[] = [];
    parser.on('packet', (p: unknown) => packets.push(p));
    parser.parse(Buffer.from(bytes));
    expect(packets).toHaveLength(1);
    return packets[0];
  }

  it('gives the same packet as mqtt-packet for every QoS, flag, topic and payload size', () => {
    const topics = ['a', 'bench/tp/123-4', 'sensors/ü/temp', `${'x'.repeat(300)}/y`];
    const payloads = [0, 1, 64, 200, 20_000].map((n) => Buffer.alloc(n, 0x61));
    let checked = 0;
    for (const protocolVersion of [3, 4] as const) {
      for (const qos of [0, 1, 2] as const) {
        for (const retain of [false, true]) {
          for (const dup of qos === 0 ? [false] : [false, true]) {
            for (const topic of topics) {
              for (const payload of payloads) {
                const packet = { cmd: 'publish', topic, payload, qos, retain, dup, ...(qos > 0 ? { messageId: 0x1234 } : {}) } as mqtt.Packet;
                const bytes = new Uint8Array(mqtt.generate(packet, { protocolVersion }));
                const r = decodePacket(bytes, protocolVersion);
                expect(r.ok).toBe(true);
                // Payloads compared as bytes: toEqual walks a large Buffer element by element.
                const { payload: got, ...rest } = (r.ok ? r.packet : {}) as { payload: Buffer };
                const { payload: want, ...expected } = reference(bytes, protocolVersion) as { payload: Buffer };
                expect(rest).toEqual(expected);
                // A view of the packet's own bytes, not a copy.
                expect(got.buffer).toBe(bytes.buffer);
                expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(want)).toBe(true);
                checked++;
              }
            }
          }
        }
      }
    }
    expect(checked).toBe(2 * (2 + 4 + 4) * topics.length * payloads.length);
    const puback = new Uint8Array([0x40, 0x02, 0xbe, 0xef]);
    expect(decodePacket(puback, 4)).toEqual({ ok: true, packet: reference(puback, 4) });
  });

  it('still refuses what the general parser refuses', () => {
    // QoS 3, a truncated topic, a missing packet identifier, identifier 0, U+0000 in the topic, PUBACK identifier 0.
    for (const bytes of [
      [0x36, 0x04, 0x00, 0x01, 0x61, 0x78],
      [0x30, 0x03, 0x00, 0x05, 0x61],
      [0x32, 0x04, 0x00, 0x02, 0x61, 0x62],
      [0x32, 0x06, 0x00, 0x01, 0x61, 0x00, 0x00, 0x78],
      [0x30, 0x04, 0x00, 0x02, 0x61, 0x00],
      [0x40, 0x02, 0x00, 0x00],
    ]) {
      expect(decodePacket(new Uint8Array(bytes), 4).ok).toBe(false);
    }
  });
});

describe('decodePacket: CONNECT in 3.1/3.1.1', () => {
  /** What mqtt-packet's own parser makes of the bytes. */
  function reference(bytes: Uint8Array, protocolVersion: 3 | 4): Record<string, unknown> {
    const parser = mqtt.parser({ protocolVersion });
    const packets: unknown[] = [];
    parser.on('packet', (p: unknown) => packets.push(p));
    parser.parse(Buffer.from(bytes));
    expect(packets).toHaveLength(1);
    return { ...(packets[0] as object) };
  }

  it('gives the same packet as mqtt-packet for every flag and field, ASCII or not', () => {
    const wills = [undefined, { topic: 'dev/1/status', payload: Buffer.from('offline'), qos: 1, retain: true }, { topic: 'ü', payload: Buffer.alloc(0), qos: 2, retain: false }];
    const logins = [{}, { username: 'device-7' }, { username: 'device-7', password: Buffer.from([0, 0xff, 0x10]) }, { username: 'ünï', password: Buffer.from('p') }];
    let checked = 0;
    for (const protocolVersion of [3, 4] as const) {
      for (const clientId of protocolVersion === 4 ? ['', 'sensor-42', 'ü-id'] : ['sensor-42']) {
        for (const clean of clientId === '' ? [true] : [true, false]) {
          for (const will of wills) {
            for (const login of logins) {
              const packet = { cmd: 'connect', protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT', protocolVersion, clientId, clean, keepalive: 300, ...(will ? { will } : {}), ...login };
              const bytes = new Uint8Array(mqtt.generate(packet as mqtt.Packet, { protocolVersion }));
              const r = decodePacket(bytes, null);
              expect(r.ok).toBe(true);
              expect({ ...(r.ok ? r.packet : {}) }).toEqual(reference(bytes, protocolVersion));
              checked++;
            }
          }
        }
      }
    }
    expect(checked).toBe((1 + 2 + 2 + 2) * wills.length * logins.length);
  });

  it('still refuses what the general parser refuses, with its reason', () => {
    const good = [0x10, 0x0f, ...str('MQTT'), 0x04, 0x02, 0x00, 0x3c, ...str('abc')];
    expect(ok(decodePacket(Uint8Array.from(good), null))).toMatchObject({ clientId: 'abc', keepalive: 60, clean: true });
    const withFlags = (flags: number) => Uint8Array.from(good.map((b, i) => (i === 9 ? flags : b)));
    // Reserved flag [MQTT-3.1.2-3], will QoS 3, will QoS and will retain without a will, password without a user name.
    expect(decodePacket(withFlags(0x03), null)).toMatchObject({ ok: false, reasonCode: MALFORMED });
    for (const flags of [0x1e, 0x0a, 0x22, 0x42]) expect(decodePacket(withFlags(flags), null)).toMatchObject({ ok: false, reasonCode: MALFORMED });
    // A client id running past the packet, a byte after the last field, U+0000 in the client id.
    expect(decodePacket(Uint8Array.from([...good.slice(0, 13), 0x00, 0x04, 0x61, 0x62, 0x63].map((b, i) => (i === 1 ? 0x0f : b))), null).ok).toBe(false);
    expect(decodePacket(Uint8Array.from([0x10, 0x10, ...good.slice(2), 0x00]), null)).toMatchObject({ ok: false, message: expect.stringContaining('beyond its last field') });
    expect(decodePacket(Uint8Array.from(good.map((b, i) => (i === 15 ? 0x00 : b))), null)).toMatchObject({ ok: false, reasonCode: MALFORMED });
    // Fixed header flags must be 0 [MQTT-2.2.2-2].
    expect(decodePacket(Uint8Array.from([0x12, ...good.slice(1)]), null).ok).toBe(false);
  });
});
