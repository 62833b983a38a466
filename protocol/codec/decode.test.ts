import { describe, expect, it } from 'vitest';
import * as mqtt from 'mqtt-packet';
import { decodePacket } from './decode';

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
