import { describe, expect, it } from 'vitest';
import type { Packet, IAuthPacket, IConnackPacket, IDisconnectPacket, IPublishPacket, ISubackPacket, IPubackPacket, IPubrecPacket, IUnsubackPacket, IPubcompPacket } from 'mqtt-packet';
import * as mqtt from 'mqtt-packet';
import { EngineHarness, type TestClient } from './testing/engine-harness';
import { MemorySessionStore } from '../store/memory-session-store';

const text = (p: IPublishPacket) => Buffer.from(p.payload as Uint8Array).toString();

describe('CONNECT / CONNACK', () => {
  it('accepts 3.1.1 and 5.0 clients with the right CONNACK shape', async () => {
    const h = new EngineHarness();
    const v4 = await h.client(4).connect();
    expect(v4).toMatchObject({ returnCode: 0, sessionPresent: false });
    const v5 = (await h.client(5).connect()) as IConnackPacket;
    expect(v5.reasonCode).toBe(0);
    expect(v5.properties).toMatchObject({
      receiveMaximum: h.config.receiveMaximum,
      maximumPacketSize: h.config.maxPacketSize,
      topicAliasMaximum: h.config.topicAliasMaximum,
      sharedSubscriptionAvailable: true,
    });
  });

  it('assigns a client identifier to an empty one (5.0) and refuses it without clean session (3.1.1)', async () => {
    const h = new EngineHarness();
    const v5 = (await h.client(5).connect({ clientId: '' })) as IConnackPacket;
    expect(v5.properties?.assignedClientIdentifier).toMatch(/^edgemq-/);
    const c4 = h.client(4);
    // MQTT.js-style libraries refuse to build this CONNECT, so it is written by hand: clean=0, empty id.
    await c4.sendRaw(new Uint8Array([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00]));
    expect(c4.take('connack')).toMatchObject({ returnCode: 2 });
    expect(c4.closed).toBe(true);
    const accepted = await h.client(4).connect({ clientId: '', clean: true });
    expect(accepted).toMatchObject({ returnCode: 0 });
  });

  it('refuses with bad credentials code when the authenticator says no', async () => {
    const h = new EngineHarness({ authenticator: { authenticate: async () => ({ ok: false, reasonCode: 0x86, returnCode: 4 }) } });
    const v5 = h.client(5);
    expect(await v5.connect()).toMatchObject({ reasonCode: 0x86 });
    expect(v5.closed).toBe(true);
    const v4 = h.client(4);
    expect(await v4.connect()).toMatchObject({ returnCode: 4 });
    expect(v4.closed).toBe(true);
  });

  it('closes a connection whose first packet is not CONNECT', async () => {
    const h = new EngineHarness();
    const c = h.client(4);
    await c.send({ cmd: 'pingreq' });
    expect(c.closed).toBe(true);
    expect(c.received).toHaveLength(0);
  });

  it('tells a 5.0 client why its CONNECT is broken (CONNACK 0x81 / 0x82 with a reason string), and closes on a 3.1.1 one', async () => {
    const h = new EngineHarness();
    const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/ /g, ''), 'hex'));
    const zeroReceiveMax = h.client(5);
    await zeroReceiveMax.sendRaw(hex('1011 0004 4d515454 05 02 001e 03 210000 0001 61'));
    const protocolError = zeroReceiveMax.take<IConnackPacket>('connack');
    expect(protocolError.reasonCode).toBe(0x82);
    expect(protocolError.properties?.reasonString).toBe('property receiveMaximum must not be 0');
    expect(zeroReceiveMax.closed).toBe(true);

    const willQos3 = h.client(5);
    await willQos3.sendRaw(hex('1017 0004 4d515454 05 1c 001e 00 0003 616263 00 0001 61 0001 62'));
    expect(willQos3.take<IConnackPacket>('connack').reasonCode).toBe(0x81);
    expect(willQos3.closed).toBe(true);

    const v4 = h.client(4);
    await v4.sendRaw(hex('1015 0004 4d515454 04 1c 001e 0003 616263 0001 61 0001 62'));
    expect(v4.received).toHaveLength(0);
    expect(v4.closed).toBe(true);
  });

  it('answers a second CONNECT with DISCONNECT 0x82 in 5.0', async () => {
    const h = new EngineHarness();
    const c = h.client(5);
    await c.connect();
    await c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: c.id });
    expect(c.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x82);
    expect(c.closed).toBe(true);
  });

  it('closes a connection that sends no CONNECT within the timeout', async () => {
    const h = new EngineHarness({ config: { connectTimeoutMs: 5000 } });
    const c = h.client(4);
    h.tick(4000);
    expect(c.closed).toBe(false);
    h.tick(1500);
    expect(c.closed).toBe(true);
  });

  it('lets a client leave with DISCONNECT during enhanced authentication, answered by nothing [MQTT-3.1.2-30]', async () => {
    const h = new EngineHarness({
      authenticator: { authenticate: () => ({ ok: 'continue', authenticationData: new Uint8Array([1]), next: async () => ({ ok: true, username: null }) }) },
    });
    const c = h.client(5);
    await c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'leaves', properties: { authenticationMethod: 'X' } });
    expect(c.take<IAuthPacket>('auth').reasonCode).toBe(0x18);
    await c.send({ cmd: 'disconnect', reasonCode: 0 });
    expect(c.received).toEqual([]);
    expect(c.closed).toBe(true);
  });

  it('keeps packets that arrive during asynchronous authentication in order', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const h = new EngineHarness({ authenticator: { authenticate: async (r) => (await gate, { ok: true, username: r.username }) } });
    const c = h.client(5);
    const connecting = c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'ordered' });
    const sub = c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'o/#', qos: 1 }] });
    const pub = c.send({ cmd: 'publish', topic: 'o/1', payload: Buffer.from('x'), qos: 1, messageId: 2, retain: false, dup: false });
    release();
    await Promise.all([connecting, sub, pub]);
    expect(c.received.map((p) => p.cmd)).toEqual(['connack', 'suback', 'publish', 'puback']);
  });

  it('bounds what every connection not yet accepted holds together, refusing the largest holder first', async () => {
    const h = new EngineHarness({ config: { maxConnectingBytes: 100_000 } });
    // Three sockets that never finish a CONNECT announcing 60,000 bytes, each sending part of it.
    const connectHeader = (total: number) => {
      const remaining = total - 4;
      return Uint8Array.from([0x10, (remaining & 0x7f) | 0x80, ((remaining >> 7) & 0x7f) | 0x80, remaining >> 14]);
    };
    const [a, b, c] = [h.client(5), h.client(5), h.client(5)];
    await a.sendRaw(connectHeader(60_000));
    // A header alone reserves little (the framer grows with the bytes), so no one is over the bound yet.
    expect(h.engine.connecting.bytes).toBeLessThan(5_000);
    await a.sendRaw(new Uint8Array(45_000));
    await b.sendRaw(connectHeader(60_000));
    await b.sendRaw(new Uint8Array(20_000));
    expect([a.closed, b.closed]).toEqual([false, false]);
    // c pushes the total past 100,000: a, holding most, is refused; b and c go on.
    await c.sendRaw(connectHeader(60_000));
    await c.sendRaw(new Uint8Array(40_000));
    expect([a.closed, b.closed, c.closed]).toEqual([true, false, false]);
    expect(h.engine.connecting.bytes).toBeLessThanOrEqual(100_000);
    // A device that connects meanwhile in one frame holds nothing and is accepted.
    const device = h.client(5);
    expect(await device.connect({ clientId: 'device' })).toMatchObject({ cmd: 'connack', reasonCode: 0 });
    // What the refused and the accepted held is given back.
    b.close();
    c.close();
    expect(h.engine.connecting.bytes).toBe(0);
  });

  it('refuses with a 0x97 CONNACK the largest of the connections waiting on authentication, and counts nothing once they are answered', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const h = new EngineHarness({
      config: { maxConnectingBytes: 65_536 },
      authenticator: {
        authenticate: async (r) => {
          await gate;
          return { ok: true, username: r.username };
        },
      },
    });
    const [big, small] = [h.client(5), h.client(5)];
    const connecting = [big, small].map((c) => c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: c.id }));
    const publish = (n: number) => ({ cmd: 'publish', topic: 'held', payload: Buffer.alloc(n, 1), qos: 0, retain: false, dup: false });
    // Held behind the authentication that has not answered yet: 40 KB and 10 KB, then another 20 KB from the first.
    const sends = [big.send(publish(40_000)), small.send(publish(10_000))];
    expect(h.engine.connecting.bytes).toBeGreaterThan(50_000);
    sends.push(big.send(publish(20_000)));
    expect(big.received).toMatchObject([{ cmd: 'connack', reasonCode: 0x97 }]);
    expect(big.closed).toBe(true);
    release();
    await Promise.all([...connecting, ...sends]);
    expect(small.take<IConnackPacket>('connack').reasonCode).toBe(0);
    expect(small.closed).toBe(false);
    expect(h.engine.connecting.bytes).toBe(0);
  });

  it('stops counting a client once its CONNECT is accepted, even with the start of its next packet in the same frame', async () => {
    const h = new EngineHarness({ config: { maxConnectingBytes: 65_536 } });
    const device = h.client(5);
    const connect = mqtt.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'device' } as Packet, { protocolVersion: 5 });
    const next = mqtt.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(5_000, 1), qos: 0, retain: false, dup: false } as Packet, { protocolVersion: 5 });
    await device.sendRaw(new Uint8Array(Buffer.concat([connect, next.subarray(0, 10)])));
    expect(device.take<IConnackPacket>('connack').reasonCode).toBe(0);
    expect(h.engine.connecting.bytes).toBe(0);
    // Sockets that never finish a CONNECT fill the bound: they are refused, the accepted device is not.
    const idle = Array.from({ length: 80 }, () => h.client(5));
    for (const c of idle) await c.sendRaw(Uint8Array.from([0x10, 0xff, 0x7f]));
    expect(device.closed).toBe(false);
    expect(idle.some((c) => c.closed)).toBe(true);
    await device.sendRaw(new Uint8Array(next.subarray(10)));
    expect(device.closed).toBe(false);
  });

  it('refuses with 0x97 a client that sends more than the pending limit before its CONNACK', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const h = new EngineHarness({
      config: { maxPendingBytes: 1024 },
      authenticator: {
        authenticate: async (r) => {
          if (r.clientId !== 'watcher') await gate;
          return { ok: true, username: r.username };
        },
      },
    });
    const watcher = h.client(5);
    await watcher.connect({ clientId: 'watcher' });
    await watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'early/#', qos: 0 }] });

    const v5 = h.client(5);
    const v4 = h.client(4);
    const connecting = [v5, v4].map((c) =>
      c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: c.protocolVersion, clean: true, keepalive: 0, clientId: c.id }),
    );
    const publish = { cmd: 'publish', topic: 'early/x', payload: Buffer.alloc(200, 1), qos: 0, retain: false, dup: false };
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 6; i++) for (const c of [v5, v4]) sends.push(c.send(publish));
    release();
    await Promise.all([...connecting, ...sends]);

    expect(v5.received).toMatchObject([{ cmd: 'connack', reasonCode: 0x97 }]);
    expect(v5.closed).toBe(true);
    // 3.1.1 has no code for it: the connection just closes, without a CONNACK.
    expect(v4.received).toHaveLength(0);
    expect(v4.closed).toBe(true);
    expect(watcher.all('publish')).toHaveLength(0);
  });
});

describe('re-authentication (MQTT 5, 4.12.1)', () => {
  /** A challenge-response method "X": the client's answer "good" passes, anything else is refused with 0x86. */
  function challenged() {
    const answers: string[] = [];
    const h = new EngineHarness({
      authenticator: {
        authenticate: (r) => {
          if (r.authenticationMethod !== 'X') return { ok: true, username: r.username };
          return {
            ok: 'continue',
            authenticationData: new Uint8Array([1]),
            next: async (data) => {
              const answer = Buffer.from(data ?? []).toString();
              answers.push(answer);
              return answer === 'good'
                ? { ok: true, username: r.username, authenticationData: new Uint8Array([2]) }
                : { ok: false, reasonCode: 0x86, returnCode: 4, reason: { code: 'BAD_CREDENTIALS', text: 'wrong answer' } };
            },
          };
        },
      },
    });
    return { h, answers };
  }

  /** Connected through method "X", answering its challenge with `answer`; `fields` add to or replace the CONNECT's. */
  async function connectedWithMethod(h: EngineHarness, fields: Record<string, unknown> = {}, answer = 'good'): Promise<TestClient> {
    const c = h.client(5);
    await c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'reauth', properties: { authenticationMethod: 'X' }, ...fields });
    expect(c.take<IAuthPacket>('auth').reasonCode).toBe(0x18);
    await c.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'X', authenticationData: Buffer.from(answer) } });
    expect(c.take<IConnackPacket>('connack').reasonCode).toBe(0);
    return c;
  }

  it('runs the exchange again on AUTH 0x19 and ends it with AUTH 0x00, the connection and its session going on', async () => {
    const { h, answers } = challenged();
    const c = await connectedWithMethod(h);
    await c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'r', qos: 0 }] });
    c.take('suback');
    // The shard hibernates between the CONNECT and the re-authentication: the method is remembered.
    h.hibernate();
    await c.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'X', authenticationData: Buffer.from('again') } });
    expect(c.take<IAuthPacket>('auth')).toMatchObject({ reasonCode: 0x18, properties: { authenticationMethod: 'X' } });
    await c.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'X', authenticationData: Buffer.from('good') } });
    const success = c.take<IAuthPacket>('auth');
    expect(success.reasonCode).toBe(0x00);
    expect([...(success.properties?.authenticationData ?? [])]).toEqual([2]);
    expect(answers).toEqual(['good', 'good']);
    await c.send({ cmd: 'publish', topic: 'r', payload: Buffer.from('still here'), qos: 0, retain: false, dup: false });
    expect(text(c.take<IPublishPacket>('publish'))).toBe('still here');
    expect(c.closed).toBe(false);
  });

  it('ends the connection with DISCONNECT when re-authentication fails: 0x86 exists only in CONNACK, so 0x87, and no reason that names what exists [MQTT-4.12.1-2]', async () => {
    const { h } = challenged();
    const c = await connectedWithMethod(h);
    await c.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'X' } });
    c.take('auth');
    await c.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'X', authenticationData: Buffer.from('bad') } });
    const disconnect = c.take<IDisconnectPacket>('disconnect');
    expect(disconnect.reasonCode).toBe(0x87);
    expect(disconnect.properties?.reasonString).toBe('re-authentication failed');
    expect(c.closed).toBe(true);
  });

  it('keeps the username a re-authentication proved across hibernation, for a clean session too', async () => {
    const h = new EngineHarness({
      authenticator: {
        authenticate: (r) =>
          r.authenticationMethod === 'X'
            ? { ok: 'continue', authenticationData: new Uint8Array([1]), next: async (data) => ({ ok: true, username: Buffer.from(data ?? []).toString() }) }
            : { ok: true, username: r.username },
      },
    });
    const c = await connectedWithMethod(h, { clientId: 'renamed' }, 'user-1');
    await c.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'X' } });
    await c.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'X', authenticationData: Buffer.from('user-2') } });
    expect(c.all<IAuthPacket>('auth').map((p) => p.reasonCode)).toEqual([0x18, 0x00]);
    h.hibernate();
    expect(h.engine.sessions.get('renamed')!.record.username).toBe('user-2');
  });

  it('fails a re-authentication whose state hibernation took with 0x87, not as the client\'s protocol error', async () => {
    const { h } = challenged();
    const c = await connectedWithMethod(h);
    await c.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'X' } });
    c.take('auth');
    h.hibernate();
    await c.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'X', authenticationData: Buffer.from('good') } });
    expect(c.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x87);
  });

  it('handles a DISCONNECT held behind a re-authentication before a violation the edge gateway reports after it [MQTT-3.14.4-3]', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let gated = false;
    const h = new EngineHarness({
      authenticator: {
        authenticate: async (r) => {
          if (gated) await held;
          return r.authenticationMethod === 'X'
            ? { ok: 'continue', authenticationData: new Uint8Array([1]), next: async () => ({ ok: true, username: null }) }
            : { ok: true, username: null };
        },
      },
    });
    const w = h.client(5);
    await w.connect({ clientId: 'watch' });
    await w.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'will', qos: 0 }] });
    const c = await connectedWithMethod(h, { will: { topic: 'will', payload: Buffer.from('gone'), qos: 0, retain: false } });
    gated = true;
    const reauth = c.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'X' } });
    // The gateway forwards the DISCONNECT the client sent, then reports the broken header after it.
    const disconnect = c.sendRaw(Uint8Array.from([0xe0, 0x00]));
    const violation = h.engine.protocolViolation(c.id, 'remaining length longer than four bytes');
    release();
    await Promise.all([reauth, disconnect, violation]);
    expect(c.closed).toBe(true);
    expect(w.all<IPublishPacket>('publish')).toHaveLength(0);
  });

  it('answers AUTH from a client that connected without a method, or with another method, with DISCONNECT 0x82 [MQTT-4.12.1-1]', async () => {
    const { h } = challenged();
    const plain = h.client(5);
    await plain.connect();
    await plain.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'X' } });
    expect(plain.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x82);

    const other = await connectedWithMethod(h);
    await other.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'Y' } });
    expect(other.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x82);
  });
});

describe('a packet split over frames, and hibernation', () => {
  const publishBytes = (topic: string, payload: string | Uint8Array) =>
    new Uint8Array(
      mqtt.generate({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: false, dup: false } as IPublishPacket, { protocolVersion: 5 }),
    );

  it('joins a packet that finishes soon after it began, across a hibernation that came later', async () => {
    const h = new EngineHarness();
    const sub = h.client(5);
    await sub.connect();
    await sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'split/#', qos: 0 }] });
    const pub = h.client(5);
    await pub.connect();
    const bytes = publishBytes('split/a', 'whole');
    await pub.sendRaw(bytes.subarray(0, 4));
    h.tick(100);
    await pub.sendRaw(bytes.subarray(4));
    expect(text(sub.take<IPublishPacket>('publish'))).toBe('whole');
    // Long after, the shard hibernates: nothing was marked, the connection goes on.
    h.tick(60_000);
    expect(h.snapshots.get(pub.id)?.midPacket).toBeUndefined();
    h.hibernate();
    await pub.sendRaw(publishBytes('split/b', 'after'));
    expect(text(sub.take<IPublishPacket>('publish'))).toBe('after');
    expect(pub.closed).toBe(false);
  });

  it('ends a connection whose partial packet the shard lost to hibernation, as a network loss: DISCONNECT 0x83 and the will', async () => {
    const h = new EngineHarness();
    const watcher = h.client(5);
    await watcher.connect();
    await watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'will/#', qos: 0 }] });
    const slow = h.client(5);
    await slow.connect({ will: { topic: 'will/slow', payload: Buffer.from('gone'), qos: 0, retain: false } });
    // The payload of this PUBLISH, read on its own, would be a DISCONNECT (0xE0 0x00): exactly what must not happen.
    const bytes = publishBytes('t', Uint8Array.from([0xe0, 0x00]));
    await slow.sendRaw(bytes.subarray(0, 5));
    // The alarm marks the connection before the shard may hibernate (hibernationGuardMs, half the platform's idle time).
    h.tick(h.config.hibernationGuardMs);
    expect(h.snapshots.get(slow.id)?.midPacket).toBe(true);
    h.hibernate();
    expect(slow.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x83);
    expect(slow.closed).toBe(true);
    expect(text(watcher.take<IPublishPacket>('publish'))).toBe('gone');
  });

  it('wakes for a split packet only while it is incomplete', async () => {
    const h = new EngineHarness();
    const pub = h.client(5);
    await pub.connect();
    const before = h.engine.nextWakeAt();
    const bytes = publishBytes('split/w', 'x');
    await pub.sendRaw(bytes.subarray(0, 3));
    expect(h.engine.nextWakeAt()).toBe(h.clock.now() + h.config.hibernationGuardMs);
    await pub.sendRaw(bytes.subarray(3));
    // Whole again: the alarm is where it was, not brought forward by every packet MQTT.js splits.
    expect(h.engine.nextWakeAt()).toBe(before);
  });

  it('ends a connection marked before its CONNECT was whole when it sends again after waking, and one broken by a bad header is not marked', async () => {
    const h = new EngineHarness();
    const early = h.client(5);
    const connect = new Uint8Array(mqtt.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'early' } as Packet, { protocolVersion: 5 }));
    await early.sendRaw(connect.subarray(0, 6));
    const broken = h.client(5);
    await broken.sendRaw(Uint8Array.from([0x30, 0x05, 0x00]));
    await broken.sendRaw(Uint8Array.from([0x30, 0xff, 0xff, 0xff, 0xff]));
    h.tick(h.config.hibernationGuardMs);
    expect(h.snapshots.get(early.id)?.midPacket).toBe(true);
    expect(h.snapshots.get(broken.id)?.midPacket).toBeUndefined();
    h.hibernate();
    // The rest of the CONNECT would read as garbage: the connection ends instead.
    await early.sendRaw(connect.subarray(6));
    expect(early.closed).toBe(true);
    expect(early.received).toHaveLength(0);
  });

  it('clears the mark once the slow packet completes, so a later hibernation ends nothing', async () => {
    const h = new EngineHarness();
    const sub = h.client(5);
    await sub.connect();
    await sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'slow/#', qos: 0 }] });
    const pub = h.client(5);
    await pub.connect();
    const bytes = publishBytes('slow/a', 'late');
    await pub.sendRaw(bytes.subarray(0, 3));
    h.tick(h.config.hibernationGuardMs);
    expect(h.snapshots.get(pub.id)?.midPacket).toBe(true);
    await pub.sendRaw(bytes.subarray(3));
    expect(text(sub.take<IPublishPacket>('publish'))).toBe('late');
    expect(h.snapshots.get(pub.id)?.midPacket).toBeUndefined();
    h.hibernate();
    await pub.sendRaw(publishBytes('slow/b', 'next'));
    expect(text(sub.take<IPublishPacket>('publish'))).toBe('next');
    expect(pub.closed).toBe(false);
  });
});

describe('publish rate limit', () => {
  const publish = (messageId: number) => ({ cmd: 'publish', topic: 'rate/t', payload: Buffer.from('r'), qos: 1, messageId, retain: false, dup: false });

  it('disconnects a 5.0 client above the rate with 0x96 after acknowledging what came before', async () => {
    const h = new EngineHarness({ config: { maxPublishRate: 3 } });
    const sub = h.client(5);
    await sub.connect();
    await sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rate/#', qos: 1 }] });
    const c = h.client(5);
    await c.connect();
    for (let id = 1; id <= 3; id++) await c.send(publish(id));
    // A second later the bucket holds three again.
    h.clock.advance(1000);
    for (let id = 4; id <= 6; id++) await c.send(publish(id));
    expect(c.all<IPubackPacket>('puback').map((p) => p.messageId)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(c.closed).toBe(false);

    await c.send(publish(7));
    expect(c.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x96);
    expect(c.all('puback')).toHaveLength(0);
    expect(c.closed).toBe(true);
    expect(sub.all('publish')).toHaveLength(6);
  });

  it('bounds every connection by default: the 1,001st PUBLISH within a second ends a 5.0 connection with 0x96', async () => {
    const h = new EngineHarness();
    expect(h.config.maxPublishRate).toBe(1000);
    const c = h.client(5);
    await c.connect();
    for (let id = 1; id <= 1001; id++) await c.send(publish(id));
    expect(c.all('puback')).toHaveLength(1000);
    expect(c.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x96);
    expect(c.closed).toBe(true);
  });

  it('closes a 3.1.1 client above the rate, and leaves the rate unlimited at 0', async () => {
    const limited = new EngineHarness({ config: { maxPublishRate: 2 } });
    const c = limited.client(4);
    await c.connect();
    for (let id = 1; id <= 3; id++) await c.send(publish(id));
    expect(c.all('puback')).toHaveLength(2);
    expect(c.all('disconnect')).toHaveLength(0);
    expect(c.closed).toBe(true);

    const unlimited = new EngineHarness({ config: { maxPublishRate: 0 } });
    const d = unlimited.client(4);
    await d.connect();
    for (let id = 1; id <= 1500; id++) await d.send(publish(id));
    expect(d.all('puback')).toHaveLength(1500);
    expect(d.closed).toBe(false);
  });
});

describe('publish and subscribe', () => {
  it('delivers QoS 0, 1 and 2 with downgrade to the granted QoS', async () => {
    const h = new EngineHarness();
    const sub = h.client(5);
    await sub.connect();
    await sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/+', qos: 1 }] });
    expect(sub.take<ISubackPacket>('suback').granted).toEqual([1]);
    const pub = h.client(4);
    await pub.connect();
    await pub.send({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('q2'), qos: 2, messageId: 7, retain: false, dup: false });
    expect(pub.take<IPubrecPacket>('pubrec').messageId).toBe(7);
    const got = sub.take<IPublishPacket>('publish');
    expect(got.qos).toBe(1);
    expect(text(got)).toBe('q2');
    await pub.send({ cmd: 'pubrel', messageId: 7 });
    expect(pub.take<IPubcompPacket>('pubcomp').messageId).toBe(7);
  });

  it('delivers a QoS 2 retransmission only once', async () => {
    const h = new EngineHarness();
    const sub = h.client(5);
    await sub.connect();
    await sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q2', qos: 2 }] });
    const pub = h.client(5);
    await pub.connect();
    const p = { cmd: 'publish', topic: 'q2', payload: Buffer.from('once'), qos: 2, messageId: 3, retain: false, dup: false };
    await pub.send(p);
    await pub.send({ ...p, dup: true });
    expect(pub.all('pubrec')).toHaveLength(2);
    expect(sub.all('publish')).toHaveLength(1);
  });

  it('refuses a topic name with a wildcard after valid ones to the same and another topic [MQTT-3.3.2-2]', async () => {
    const h = new EngineHarness();
    const sub = h.client(5);
    await sub.connect();
    await sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#', qos: 0 }] });
    const publish = (topic: string) => ({ cmd: 'publish', topic, payload: Buffer.from(topic), qos: 0, retain: false, dup: false });
    const v4 = h.client(4);
    await v4.connect();
    await v4.send(publish('a/b'));
    await v4.send(publish('a/b'));
    await v4.send(publish('a/+'));
    expect(v4.closed).toBe(true);
    const v5 = h.client(5);
    await v5.connect();
    await v5.send(publish('a/b'));
    await v5.send(publish('a/c'));
    await v5.send(publish('a/c'));
    await v5.send(publish('a/#'));
    expect(v5.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x90);
    expect(sub.all<IPublishPacket>('publish').map((p) => p.topic)).toEqual(['a/b', 'a/b', 'a/b', 'a/c', 'a/c']);
  });

  it('refuses a wildcard topic set on a topic alias after the alias was used with a valid one (5.0) [MQTT-3.3.2-2]', async () => {
    const h = new EngineHarness();
    const sub = h.client(5);
    await sub.connect();
    await sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#', qos: 0 }] });
    const pub = h.client(5);
    await pub.connect();
    const publish = (topic: string, alias: number) => ({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: alias } });
    await pub.send(publish('a/b', 1));
    await pub.send(publish('', 1));
    await pub.send(publish('a/#', 1));
    expect(pub.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x90);
    expect(sub.all<IPublishPacket>('publish').map((p) => p.topic)).toEqual(['a/b', 'a/b']);
  });

  it('reaches the subscribers of the moment when a topic is published again after subscriptions changed', async () => {
    const h = new EngineHarness();
    const first = h.client(4);
    await first.connect();
    await first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't/x', qos: 0 }] });
    const second = h.client(4);
    await second.connect();
    const pub = h.client(4);
    await pub.connect();
    const publish = (n: number) => pub.send({ cmd: 'publish', topic: 't/x', payload: Buffer.from(String(n)), qos: 0, retain: false, dup: false });
    await publish(1);
    await second.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't/+', qos: 0 }] });
    await publish(2);
    await first.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['t/x'] });
    await publish(3);
    await second.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['t/+'] });
    await first.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 't/#', qos: 0 }] });
    await publish(4);
    const payloads = (c: TestClient) => c.all<IPublishPacket>('publish').map((p) => text(p));
    expect(payloads(first)).toEqual(['1', '2', '4']);
    expect(payloads(second)).toEqual(['2', '3']);
  });

  it('does not match $ topics with leading wildcards', async () => {
    const h = new EngineHarness();
    const sub = h.client(5);
    await sub.connect();
    await sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '#', qos: 0 }, { topic: '+/x', qos: 0 }] });
    const pub = h.client(5);
    await pub.connect();
    await pub.send({ cmd: 'publish', topic: '$app/x', payload: Buffer.from('hidden'), qos: 0, retain: false, dup: false });
    await pub.send({ cmd: 'publish', topic: 'app/x', payload: Buffer.from('seen'), qos: 0, retain: false, dup: false });
    const got = sub.all<IPublishPacket>('publish');
    expect(got.map((p) => p.topic)).toEqual(['app/x']);
  });

  it('honours No Local and merges overlapping subscriptions with all identifiers', async () => {
    const h = new EngineHarness();
    const c = h.client(5);
    await c.connect();
    await c.send({ cmd: 'subscribe', messageId: 1, properties: { subscriptionIdentifier: 11 }, subscriptions: [{ topic: 'n/#', qos: 1 }] });
    await c.send({ cmd: 'subscribe', messageId: 2, properties: { subscriptionIdentifier: 22 }, subscriptions: [{ topic: 'n/+', qos: 0 }] });
    await c.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'self', qos: 0, nl: true }] });
    const other = h.client(5);
    await other.connect();
    await other.send({ cmd: 'publish', topic: 'n/1', payload: Buffer.from('m'), qos: 1, messageId: 5, retain: false, dup: false });
    const got = c.all<IPublishPacket>('publish');
    expect(got).toHaveLength(1);
    expect(got[0].qos).toBe(1);
    expect([got[0].properties?.subscriptionIdentifier].flat().sort()).toEqual([11, 22]);
    await c.send({ cmd: 'publish', topic: 'self', payload: Buffer.from('me'), qos: 0, retain: false, dup: false });
    expect(c.all('publish')).toHaveLength(0);
  });

  it('fans one message out with the right fields for every protocol, identifier and retain option', async () => {
    const h = new EngineHarness();
    const v3 = h.client(3);
    const v4 = h.client(4);
    const v5 = h.client(5);
    const v5id = h.client(5);
    const v5rap = h.client(5);
    for (const c of [v3, v4, v5, v5id, v5rap]) await c.connect();
    for (const c of [v3, v4, v5]) await c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'fan/+', qos: 0 }] });
    await v5id.send({ cmd: 'subscribe', messageId: 1, properties: { subscriptionIdentifier: 7 }, subscriptions: [{ topic: 'fan/#', qos: 0 }] });
    await v5rap.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'fan/+', qos: 0, rap: true }] });
    const pub = h.client(5);
    await pub.connect();
    await pub.send({ cmd: 'publish', topic: 'fan/a', payload: Buffer.from('one'), qos: 0, retain: true, dup: false, properties: { contentType: 'text/plain' } });
    await pub.send({ cmd: 'publish', topic: 'fan/b', payload: Buffer.from('two'), qos: 0, retain: false, dup: false });

    for (const c of [v3, v4]) {
      const got = c.all<IPublishPacket>('publish');
      expect(got.map((p) => [p.topic, text(p), p.retain, p.properties])).toEqual([
        ['fan/a', 'one', false, undefined],
        ['fan/b', 'two', false, undefined],
      ]);
    }
    const plain = v5.all<IPublishPacket>('publish');
    expect(plain.map((p) => [text(p), p.retain, p.properties])).toEqual([
      ['one', false, { contentType: 'text/plain' }],
      ['two', false, undefined],
    ]);
    const tagged = v5id.all<IPublishPacket>('publish');
    expect(tagged.map((p) => [text(p), p.properties])).toEqual([
      ['one', { contentType: 'text/plain', subscriptionIdentifier: 7 }],
      ['two', { subscriptionIdentifier: 7 }],
    ]);
    expect(v5rap.all<IPublishPacket>('publish').map((p) => [text(p), p.retain])).toEqual([
      ['one', true],
      ['two', false],
    ]);
  });

  it('spreads a shared subscription over its members, one copy each message', async () => {
    const h = new EngineHarness();
    const members = [h.client(5), h.client(5)];
    for (const m of members) {
      await m.connect();
      await m.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/jobs/+', qos: 0 }] });
    }
    const pub = h.client(5);
    await pub.connect();
    for (let i = 0; i < 6; i++) await pub.send({ cmd: 'publish', topic: `jobs/${i}`, payload: Buffer.from(String(i)), qos: 0, retain: false, dup: false });
    const a = members[0].all<IPublishPacket>('publish').length;
    const b = members[1].all<IPublishPacket>('publish').length;
    expect(a + b).toBe(6);
    expect(a).toBe(3);
  });

  it('answers each subscription filter separately in 5.0, with 0x8F for an invalid one; 3.1.1 closes on it', async () => {
    const h = new EngineHarness();
    const c = h.client(5);
    await c.connect();
    await c.send({ cmd: 'subscribe', messageId: 4, subscriptions: [{ topic: 'ok/#', qos: 2 }, { topic: 'bad/#/x', qos: 1 }] });
    expect(c.take<ISubackPacket>('suback').granted).toEqual([2, 0x8f]);
    await c.send({ cmd: 'unsubscribe', messageId: 5, unsubscriptions: ['ok/#', 'bad/#/x'] });
    expect(c.take<IUnsubackPacket>('unsuback').granted).toEqual([0x00, 0x8f]);
    const v4 = h.client(4);
    await v4.connect();
    await v4.send({ cmd: 'subscribe', messageId: 4, subscriptions: [{ topic: 'ok', qos: 1 }, { topic: 'a+', qos: 1 }] });
    // [MQTT-4.7.1-3], [MQTT-4.8.0-1]: no SUBACK, and neither filter took effect.
    expect(v4.closed).toBe(true);
    expect(h.engine.subscriptions.get(v4.id, 'ok')).toBeUndefined();
  });

  it('reports whether an unsubscribed filter existed (5.0)', async () => {
    const h = new EngineHarness();
    const c = h.client(5);
    await c.connect();
    await c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'u', qos: 0 }] });
    await c.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['u', 'never'] });
    expect(c.take<IUnsubackPacket>('unsuback').granted).toEqual([0x00, 0x11]);
  });

  it('answers PUBACK 0x10 when nobody subscribes and refuses clients publishing to $SYS', async () => {
    const h = new EngineHarness();
    const c = h.client(5);
    await c.connect();
    await c.send({ cmd: 'publish', topic: 'nobody', payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, dup: false });
    expect(c.take<IPubackPacket>('puback').reasonCode).toBe(0x10);
    await c.send({ cmd: 'publish', topic: '$SYS/broker/uptime', payload: Buffer.from('0'), qos: 1, messageId: 2, retain: false, dup: false });
    expect(c.take<IPubackPacket>('puback').reasonCode).toBe(0x87);
  });
});

describe('retained messages', () => {
  it('stores, replaces and deletes retained messages; honours Retain Handling', async () => {
    const h = new EngineHarness();
    const pub = h.client(5);
    await pub.connect();
    await pub.send({ cmd: 'publish', topic: 'r/1', payload: Buffer.from('one'), qos: 1, messageId: 1, retain: true, dup: false });
    await pub.send({ cmd: 'publish', topic: 'r/2', payload: Buffer.from('two'), qos: 0, retain: true, dup: false });
    await pub.send({ cmd: 'publish', topic: 'r/2', payload: Buffer.alloc(0), qos: 0, retain: true, dup: false });
    const s = h.client(5);
    await s.connect();
    await s.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'r/+', qos: 1, rh: 0 }] });
    const got = s.all<IPublishPacket>('publish');
    expect(got.map((p) => [p.topic, text(p), p.retain])).toEqual([['r/1', 'one', true]]);
    // rh=1: only when the subscription is new.
    await s.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'r/+', qos: 1, rh: 1 }] });
    expect(s.all('publish')).toHaveLength(0);
    // rh=2: never.
    await s.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'r/#', qos: 1, rh: 2 }] });
    expect(s.all('publish')).toHaveLength(0);
  });

  it('clears RETAIN on forwarded messages unless Retain As Published', async () => {
    const h = new EngineHarness();
    const plain = h.client(5);
    const rap = h.client(5);
    await plain.connect();
    await rap.connect();
    await plain.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't', qos: 0 }] });
    await rap.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't', qos: 0, rap: true }] });
    const pub = h.client(5);
    await pub.connect();
    await pub.send({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 0, retain: true, dup: false });
    expect(plain.take<IPublishPacket>('publish').retain).toBe(false);
    expect(rap.take<IPublishPacket>('publish').retain).toBe(true);
  });
});

describe('wills', () => {
  const will = { topic: 'w/dead', payload: Buffer.from('gone'), qos: 1, retain: false };

  async function watcher(h: EngineHarness) {
    const w = h.client(5);
    await w.connect();
    await w.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'w/#', qos: 1 }] });
    return w;
  }

  it('publishes the will on network loss but not after a normal DISCONNECT', async () => {
    const h = new EngineHarness();
    const w = await watcher(h);
    const a = h.client(4);
    await a.connect({ will });
    a.close();
    expect(text(w.take<IPublishPacket>('publish'))).toBe('gone');
    const b = h.client(4);
    await b.connect({ will });
    await b.send({ cmd: 'disconnect' });
    expect(w.all('publish')).toHaveLength(0);
  });

  it('takes the Session Expiry of a DISCONNECT from a client that asked for one, even when the broker granted 0 [MQTT-3.14.2-2]', async () => {
    const h = new EngineHarness({ config: { maxSessionExpirySeconds: 0 } });
    const w = await watcher(h);
    w.take('suback');
    const capped = h.client(5);
    await capped.connect({ properties: { sessionExpiryInterval: 3600 }, will });
    // What the CONNECT asked survives hibernation with the socket.
    h.hibernate();
    await capped.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 3600 } });
    // A normal DISCONNECT: no answer, and the will is discarded [MQTT-3.14.4-3].
    expect(capped.received).toEqual([]);
    expect(w.all('publish')).toHaveLength(0);

    // A client that asked for 0 may not set one now: DISCONNECT 0x82, and its will goes out.
    const zero = h.client(5);
    await zero.connect({ will });
    await zero.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 3600 } });
    expect(zero.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x82);
    expect(text(w.take<IPublishPacket>('publish'))).toBe('gone');
  });

  it('discards the will of a DISCONNECT that shares its frame with a broken header after it [MQTT-3.14.4-3]', async () => {
    const h = new EngineHarness();
    const w = await watcher(h);
    w.take('suback');
    const c = h.client(4);
    await c.connect({ will });
    await c.sendRaw(Uint8Array.from([0xe0, 0x00, 0x30, 0xff, 0xff, 0xff, 0xff, 0x01]));
    expect(c.closed).toBe(true);
    expect(w.all('publish')).toHaveLength(0);
  });

  it('reads nothing after a broken header, even while an earlier CONNECT is still being authenticated [MQTT-4.13.1-1]', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const h = new EngineHarness({ authenticator: { authenticate: async (r) => (r.clientId === 'slow' && (await held), { ok: true, username: r.username }) } });
    const w = await watcher(h);
    w.take('suback');
    const c = h.client(4);
    const connecting = c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: 'slow' });
    const broken = c.sendRaw(Uint8Array.from([0xc0, 0x00, 0x30, 0xff, 0xff, 0xff, 0xff, 0x01]));
    // After the break: bytes a fresh framer would read as a PUBLISH to w/x.
    const after = c.sendRaw(Uint8Array.from([0x30, 0x06, 0x00, 0x03, 0x77, 0x2f, 0x78, 0x21]));
    release();
    await Promise.all([connecting, broken, after]);
    expect(c.closed).toBe(true);
    expect(w.all('publish')).toHaveLength(0);
  });

  it('publishes on DISCONNECT 0x04 and on keepalive expiry', async () => {
    const h = new EngineHarness();
    const w = await watcher(h);
    const a = h.client(5);
    await a.connect({ will });
    await a.send({ cmd: 'disconnect', reasonCode: 0x04 });
    expect(w.all('publish')).toHaveLength(1);
    const k = h.client(5);
    await k.connect({ will, keepalive: 10 });
    h.tick(14_000);
    expect(k.closed).toBe(false);
    h.tick(2_000);
    expect(k.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x8d);
    expect(k.closed).toBe(true);
    expect(w.all('publish')).toHaveLength(1);
  });

  it('leaves the keepalive to the edge gateway when it holds it: no wake-up, and an expiry it reports ends the connection the same way', async () => {
    const h = new EngineHarness();
    const w = await watcher(h);
    const k = h.client(5, { keepaliveAtEdge: true });
    await k.connect({ will, keepalive: 10 });
    h.tick(60_000);
    expect(k.closed).toBe(false);
    h.engine.keepaliveExpired(k.id);
    expect(k.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x8d);
    expect(k.closed).toBe(true);
    expect(w.all('publish')).toHaveLength(1);
  });

  it('uses the client id the edge gateway assigned for an empty one [MQTT-3.2.2-16]', async () => {
    const h = new EngineHarness();
    const c = h.client(5, { assignedClientId: 'edgemq-from-the-edge' });
    const ack = (await c.connect({ clientId: '' })) as IConnackPacket;
    expect(ack.properties?.assignedClientIdentifier).toBe('edgemq-from-the-edge');
    expect(h.engine.sessions.has('edgemq-from-the-edge')).toBe(true);
  });

  it('delays the will by the Will Delay Interval and cancels it on reconnect', async () => {
    const h = new EngineHarness();
    const w = await watcher(h);
    const delayed = { ...will, properties: { willDelayInterval: 30 } };
    const a = h.client(5);
    await a.connect({ clientId: 'd1', will: delayed, clean: false, properties: { sessionExpiryInterval: 300 } });
    a.close();
    h.tick(20_000);
    expect(w.all('publish')).toHaveLength(0);
    const again = h.client(5);
    expect(await again.connect({ clientId: 'd1', clean: false, properties: { sessionExpiryInterval: 300 } })).toMatchObject({ sessionPresent: true });
    h.tick(60_000);
    expect(w.all('publish')).toHaveLength(0);
    again.close();
    const b = h.client(5);
    await b.connect({ clientId: 'd2', will: delayed, clean: false, properties: { sessionExpiryInterval: 300 } });
    b.close();
    h.tick(31_000);
    expect(w.all('publish')).toHaveLength(1);
  });

  it('takeover sends DISCONNECT 0x8E to the old connection and publishes its will', async () => {
    const h = new EngineHarness();
    const w = await watcher(h);
    const old = h.client(5);
    await old.connect({ clientId: 'same', will });
    const fresh = h.client(5);
    await fresh.connect({ clientId: 'same' });
    expect(old.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x8e);
    expect(old.closed).toBe(true);
    expect(w.all('publish')).toHaveLength(1);
  });
});

describe('when a session row is written', () => {
  const storedIds = (h: EngineHarness) => h.store.loadSessions().map((s) => s.clientId).sort();

  it('writes a clean session without a will when the shard may hibernate, all due rows in one alarm, and never one that ended first', async () => {
    const told: string[] = [];
    const store = new MemorySessionStore();
    const deleted: string[] = [];
    const deleteSession = store.deleteSession.bind(store);
    store.deleteSession = (clientId) => (deleted.push(clientId), deleteSession(clientId));
    const h = new EngineHarness({ store, sessionStored: (clientId) => told.push(clientId) });
    const guard = h.config.hibernationGuardMs;
    const openedAt = h.clock.now();
    for (const clientId of ['short', 'stays-1', 'stays-2']) await h.client(4).connect({ clientId, clean: true, keepalive: 60 });
    expect(storedIds(h)).toEqual([]);
    // The alarm is asked for when the first row falls due, before any keepalive.
    expect(h.engine.nextWakeAt()).toBe(openedAt + guard);
    const short = [...h.clients.values()][0];
    await short.send({ cmd: 'disconnect' });
    h.tick(guard - 1);
    expect(storedIds(h)).toEqual([]);
    h.tick(1);
    expect(storedIds(h)).toEqual(['stays-1', 'stays-2']);
    expect(told).toEqual(['stays-1', 'stays-2']);
    // Written once: the next alarm has no rows to write.
    h.tick(guard);
    expect(told).toEqual(['stays-1', 'stays-2']);
    // The short one left nothing to delete; one with its row deletes it when it ends.
    expect(deleted).toEqual([]);
    await [...h.clients.values()][1].send({ cmd: 'disconnect' });
    expect(deleted).toEqual(['stays-1']);
    expect(storedIds(h)).toEqual(['stays-2']);
  });

  it('writes with the due rows those due within the next second, so a reconnect storm costs about one alarm a second', async () => {
    const h = new EngineHarness();
    await h.client(4).connect({ clientId: 'first', clean: true });
    h.clock.advance(900);
    await h.client(4).connect({ clientId: 'soon-after', clean: true });
    h.clock.advance(200);
    await h.client(4).connect({ clientId: 'later', clean: true });
    h.tick(h.config.hibernationGuardMs - 1_100);
    expect(storedIds(h)).toEqual(['first', 'soon-after']);
    expect(h.engine.nextWakeAt()).toBe(h.clock.now() + 1_100);
  });

  it('writes at once a session that outlives its connection, or has a will, and tells the host each time', async () => {
    const told: string[] = [];
    const h = new EngineHarness({ sessionStored: (clientId) => told.push(clientId) });
    await h.client(4).connect({ clientId: 'persistent', clean: false });
    await h.client(5).connect({ clientId: 'expiring', clean: true, properties: { sessionExpiryInterval: 60 } });
    await h.client(4).connect({ clientId: 'with-will', clean: true, will: { topic: 'w', payload: Buffer.from('gone'), qos: 0, retain: false } });
    expect(storedIds(h)).toEqual(['expiring', 'persistent', 'with-will']);
    expect(told).toEqual(['persistent', 'expiring', 'with-will']);
  });

  it('writes the row of a clean session with its first subscription, which is never stored without it', async () => {
    const h = new EngineHarness();
    const c = h.client(4);
    await c.connect({ clientId: 'subscriber', clean: true });
    expect(storedIds(h)).toEqual([]);
    await c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'cmd/subscriber', qos: 1 }] });
    expect(storedIds(h)).toEqual(['subscriber']);
    expect(h.store.loadSubscriptions().map((s) => s.filter)).toEqual(['cmd/subscriber']);
    // Lost with the whole instance (a deploy): the woken shard finds the session, and ends it as a network loss.
    h.restart();
    expect(storedIds(h)).toEqual([]);
    expect(h.store.loadSubscriptions()).toEqual([]);
  });

  it('writes the row of a clean session taken over by one that outlives its connection, and not the one it replaced', async () => {
    const h = new EngineHarness();
    const first = h.client(4);
    await first.connect({ clientId: 'same', clean: true });
    await h.client(4).connect({ clientId: 'same', clean: false });
    expect(first.closed).toBe(true);
    expect(h.store.loadSessions().filter((s) => s.clientId === 'same')).toHaveLength(1);
    h.tick(h.config.hibernationGuardMs);
    expect(storedIds(h)).toEqual(['same']);
  });
});

describe('persistent sessions', () => {
  it('queues QoS 1 while offline, resumes with session present and redelivers unacknowledged with DUP', async () => {
    const h = new EngineHarness();
    const s = h.client(4);
    await s.connect({ clientId: 'p', clean: false });
    await s.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'p/#', qos: 1 }] });
    const pub = h.client(4);
    await pub.connect();
    await pub.send({ cmd: 'publish', topic: 'p/1', payload: Buffer.from('inflight'), qos: 1, messageId: 1, retain: false, dup: false });
    expect(s.take<IPublishPacket>('publish').dup).toBe(false);
    s.close();
    await pub.send({ cmd: 'publish', topic: 'p/2', payload: Buffer.from('queued'), qos: 1, messageId: 2, retain: false, dup: false });
    await pub.send({ cmd: 'publish', topic: 'p/3', payload: Buffer.from('qos0-dropped'), qos: 0, retain: false, dup: false });
    const back = h.client(4);
    expect(await back.connect({ clientId: 'p', clean: false })).toMatchObject({ sessionPresent: true });
    const got = back.all<IPublishPacket>('publish');
    expect(got.map((p) => [text(p), p.dup])).toEqual([
      ['inflight', true],
      ['queued', false],
    ]);
  });

  it('survives a restart (eviction): subscriptions, queue and retained messages come back', async () => {
    const h = new EngineHarness();
    const s = h.client(5);
    await s.connect({ clientId: 'durable', clean: false, properties: { sessionExpiryInterval: 3600 } });
    await s.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'd/#', qos: 2 }] });
    s.close();
    const pub = h.client(5);
    await pub.connect();
    await pub.send({ cmd: 'publish', topic: 'd/1', payload: Buffer.from('acked'), qos: 1, messageId: 9, retain: true, dup: false });
    expect(pub.take<IPubackPacket>('puback').reasonCode).toBe(0);
    h.restart();
    const back = h.client(5);
    expect(await back.connect({ clientId: 'durable', clean: false, properties: { sessionExpiryInterval: 3600 } })).toMatchObject({ sessionPresent: true });
    expect(text(back.take<IPublishPacket>('publish'))).toBe('acked');
    const late = h.client(5);
    await late.connect();
    await late.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'd/1', qos: 0 }] });
    expect(late.take<IPublishPacket>('publish').retain).toBe(true);
  });

  it('keeps live connections across hibernation', async () => {
    const h = new EngineHarness();
    const s = h.client(5);
    await s.connect({ clientId: 'sleepy' });
    await s.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'h', qos: 1 }] });
    h.hibernate();
    const pub = h.client(5);
    await pub.connect();
    await pub.send({ cmd: 'publish', topic: 'h', payload: Buffer.from('awake'), qos: 1, messageId: 1, retain: false, dup: false });
    expect(text(s.take<IPublishPacket>('publish'))).toBe('awake');
  });

  it('bounds the offline queue and counts what it drops', async () => {
    const h = new EngineHarness({ config: { maxQueuedMessages: 3 } });
    const s = h.client(5);
    await s.connect({ clientId: 'small', clean: false, properties: { sessionExpiryInterval: 60 } });
    await s.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q', qos: 1 }] });
    s.close();
    const pub = h.client(5);
    await pub.connect();
    for (let i = 0; i < 5; i++) await pub.send({ cmd: 'publish', topic: 'q', payload: Buffer.from(String(i)), qos: 1, messageId: i + 1, retain: false, dup: false });
    expect(h.engine.sessions.get('small')!.record.droppedMessages).toBe(2);
    expect(h.engine.counters.messagesDropped).toBe(2);
    const back = h.client(5);
    await back.connect({ clientId: 'small', clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(back.all<IPublishPacket>('publish').map(text)).toEqual(['0', '1', '2']);
  });

  it('expires a session after its Session Expiry Interval', async () => {
    const h = new EngineHarness();
    const s = h.client(5);
    await s.connect({ clientId: 'brief', clean: false, properties: { sessionExpiryInterval: 10 } });
    s.close();
    h.tick(11_000);
    expect(h.engine.sessions.has('brief')).toBe(false);
    const back = h.client(5);
    expect(await back.connect({ clientId: 'brief', clean: false, properties: { sessionExpiryInterval: 10 } })).toMatchObject({ sessionPresent: false });
  });

  it('does not resume a session that expired before the alarm ended it, and publishes its pending will first', async () => {
    const h = new EngineHarness();
    const watcher = h.client(5);
    await watcher.connect({ clientId: 'will-watcher' });
    await watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'late/#', qos: 0 }] });
    const s = h.client(5);
    const will = { topic: 'late/will', payload: Buffer.from('gone'), qos: 0 as const, retain: false, properties: { willDelayInterval: 60 } };
    await s.connect({ clientId: 'late', clean: false, will, properties: { sessionExpiryInterval: 10 } });
    await s.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'late/x', qos: 1 }] });
    s.close();
    await h.engine.connectionLost(s.id);
    // The clock passes the expiry with no alarm run (a late alarm, or one that waited for the ACL rules).
    h.clock.advance(11_000);
    const back = h.client(5);
    expect(await back.connect({ clientId: 'late', clean: false, properties: { sessionExpiryInterval: 10 } })).toMatchObject({ sessionPresent: false });
    // The will delay ends with the session [MQTT-3.1.3-9]: it went out before the new session began.
    expect(watcher.all<IPublishPacket>('publish').map((p) => p.topic)).toEqual(['late/will']);
    expect(h.store.loadSubscriptions().filter((sub) => sub.clientId === 'late')).toEqual([]);
  });
});

describe('MQTT 5 flow control and properties', () => {
  it('respects the client Receive Maximum and sends the rest as acknowledgements free the window', async () => {
    const h = new EngineHarness();
    const s = h.client(5);
    await s.connect({ properties: { receiveMaximum: 2 } });
    await s.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'f', qos: 1 }] });
    const pub = h.client(5);
    await pub.connect();
    for (let i = 0; i < 4; i++) await pub.send({ cmd: 'publish', topic: 'f', payload: Buffer.from(String(i)), qos: 1, messageId: i + 1, retain: false, dup: false });
    const first = s.all<IPublishPacket>('publish');
    expect(first.map(text)).toEqual(['0', '1']);
    await s.send({ cmd: 'puback', messageId: first[0].messageId });
    expect(s.all<IPublishPacket>('publish').map(text)).toEqual(['2']);
  });

  it('resolves topic aliases and rejects out-of-range ones with 0x94', async () => {
    const h = new EngineHarness();
    const s = h.client(5);
    await s.connect();
    await s.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'alias/#', qos: 0 }] });
    const pub = h.client(5);
    await pub.connect();
    await pub.send({ cmd: 'publish', topic: 'alias/long/topic', payload: Buffer.from('1'), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } });
    await pub.send({ cmd: 'publish', topic: '', payload: Buffer.from('2'), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } });
    expect(s.all<IPublishPacket>('publish').map((p) => p.topic)).toEqual(['alias/long/topic', 'alias/long/topic']);
    await pub.send({ cmd: 'publish', topic: 'x', payload: Buffer.from('3'), qos: 0, retain: false, dup: false, properties: { topicAlias: 999 } });
    expect(pub.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x94);
  });

  it('keeps the topic aliases of a connection that survives hibernation, and forgets those of one lost in a restart', async () => {
    const h = new EngineHarness();
    const pub = h.client(5);
    await pub.connect();
    await pub.send({ cmd: 'publish', topic: 'alias/kept', payload: Buffer.from('1'), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } });
    h.hibernate();
    expect([...h.store.loadTopicAliases(pub.id)]).toEqual([[3, 'alias/kept']]);
    h.restart();
    expect(h.store.loadTopicAliases(pub.id).size).toBe(0);
  });

  it('refuses invalid UTF-8 when the payload format indicator is 1', async () => {
    const h = new EngineHarness();
    const c = h.client(5);
    await c.connect();
    await c.send({ cmd: 'publish', topic: 'u', payload: Buffer.from([0xc3, 0x28]), qos: 1, messageId: 1, retain: false, dup: false, properties: { payloadFormatIndicator: true } });
    expect(c.take<IPubackPacket>('puback').reasonCode).toBe(0x99);
  });

  it('makes room for a new retained message when the full store holds expired ones', async () => {
    const h = new EngineHarness({ config: { maxRetainedMessages: 2 } });
    const pub = h.client(5);
    await pub.connect();
    const retained = (topic: string, expiry?: number) =>
      pub.send({ cmd: 'publish', topic, payload: Buffer.from(topic), qos: 0, retain: true, dup: false, properties: expiry ? { messageExpiryInterval: expiry } : {} });
    await retained('full/short', 1);
    await retained('full/long');
    await retained('full/dropped');
    h.clock.advance(2_000);
    await retained('full/new');
    const s = h.client(5);
    await s.connect();
    await s.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'full/#', qos: 0 }] });
    expect(s.all<IPublishPacket>('publish').map((p) => p.topic).sort()).toEqual(['full/long', 'full/new']);
  });

  it('passes message properties through and counts down the expiry interval', async () => {
    const h = new EngineHarness();
    const s = h.client(5);
    await s.connect({ clientId: 'props', clean: false, properties: { sessionExpiryInterval: 100 } });
    await s.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'm', qos: 1 }] });
    s.close();
    const pub = h.client(5);
    await pub.connect();
    await pub.send({
      cmd: 'publish', topic: 'm', payload: Buffer.from('{}'), qos: 1, messageId: 1, retain: false, dup: false,
      properties: { messageExpiryInterval: 60, contentType: 'application/json', responseTopic: 'reply/here', correlationData: Buffer.from([1, 2, 3]), userProperties: { k: 'v' } },
    });
    h.clock.advance(20_000);
    const back = h.client(5);
    await back.connect({ clientId: 'props', clean: false, properties: { sessionExpiryInterval: 100 } });
    const got = back.take<IPublishPacket>('publish');
    expect(got.properties).toMatchObject({ messageExpiryInterval: 40, contentType: 'application/json', responseTopic: 'reply/here', userProperties: { k: 'v' } });
    expect([...(got.properties!.correlationData as Buffer)]).toEqual([1, 2, 3]);
  });

  it('drops expired messages instead of delivering them', async () => {
    const h = new EngineHarness();
    const s = h.client(5);
    await s.connect({ clientId: 'exp', clean: false, properties: { sessionExpiryInterval: 100 } });
    await s.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'e', qos: 1 }] });
    s.close();
    const pub = h.client(5);
    await pub.connect();
    await pub.send({ cmd: 'publish', topic: 'e', payload: Buffer.from('old'), qos: 1, messageId: 1, retain: false, dup: false, properties: { messageExpiryInterval: 5 } });
    h.clock.advance(6_000);
    const back = h.client(5);
    await back.connect({ clientId: 'exp', clean: false, properties: { sessionExpiryInterval: 100 } });
    expect(back.all('publish')).toHaveLength(0);
  });

  it('never sends a packet larger than the client Maximum Packet Size', async () => {
    const h = new EngineHarness();
    const s = h.client(5);
    await s.connect({ properties: { maximumPacketSize: 64 } });
    await s.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'big', qos: 0 }] });
    const pub = h.client(5);
    await pub.connect();
    await pub.send({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(200, 1), qos: 0, retain: false, dup: false });
    await pub.send({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(10, 1), qos: 0, retain: false, dup: false });
    expect(s.all<IPublishPacket>('publish').map((p) => p.payload.length)).toEqual([10]);
  });

  it('leaves the Reason String out of a DISCONNECT it would take past the client Maximum Packet Size [MQTT-3.14.2-3]', async () => {
    const h = new EngineHarness();
    const small = h.client(5);
    const sizes: number[] = [];
    const deliver = small.deliver.bind(small);
    small.deliver = (bytes) => (sizes.push(bytes.byteLength), deliver(bytes));
    await small.connect({ properties: { maximumPacketSize: 32 } });
    // An empty topic without an alias: DISCONNECT 0x82, whose reason string alone is longer than 32 bytes.
    await small.send({ cmd: 'publish', topic: '', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    const disconnect = small.take<IDisconnectPacket>('disconnect');
    expect(disconnect.reasonCode).toBe(0x82);
    expect(disconnect.properties?.reasonString).toBeUndefined();
    expect(Math.max(...sizes)).toBeLessThanOrEqual(32);

    // With room for it, the reason is told.
    const roomy = h.client(5);
    await roomy.connect();
    await roomy.send({ cmd: 'publish', topic: '', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    expect(roomy.take<IDisconnectPacket>('disconnect').properties?.reasonString).toEqual(expect.any(String));
  });

  it('disconnects with 0x95 when a client sends more than the Maximum Packet Size', async () => {
    const h = new EngineHarness({ config: { maxPacketSize: 128 } });
    const c = h.client(5);
    await c.connect();
    await c.send({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(500), qos: 0, retain: false, dup: false });
    expect(c.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x95);
    expect(c.closed).toBe(true);
  });

  it('overrides keepalive with Server Keep Alive when above the maximum', async () => {
    const h = new EngineHarness({ config: { maxKeepaliveSeconds: 60 } });
    const c = h.client(5);
    const ack = (await c.connect({ keepalive: 600 })) as IConnackPacket;
    expect(ack.properties?.serverKeepAlive).toBe(60);
  });
});

describe('$SYS', () => {
  it('sends current statistics on subscribe and keeps publishing only while subscribed', async () => {
    const h = new EngineHarness({ config: { sysIntervalMs: 10_000 } });
    const c = h.client(5);
    await c.connect();
    h.tick(h.config.connectTimeoutMs);
    // Nothing to wait for: no alarm keeps an idle shard awake.
    expect(h.engine.nextWakeAt()).toBeNull();
    await c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$SYS/broker/clients/+', qos: 0 }] });
    const first = c.all<IPublishPacket>('publish');
    expect(first.find((p) => p.topic === '$SYS/broker/clients/connected') && text(first.find((p) => p.topic === '$SYS/broker/clients/connected')!)).toBe('1');
    expect(first.every((p) => p.retain)).toBe(true);
    h.tick(10_000);
    expect(c.all('publish').length).toBeGreaterThan(0);
    await c.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['$SYS/broker/clients/+'] });
    h.tick(10_000);
    h.tick(10_000);
    expect(c.all('publish')).toHaveLength(0);
  });
});

describe('a 3.1.1 QoS 0 PUBLISH forwarded as it arrived', () => {
  const publishBytes = (fields: Record<string, unknown>) =>
    new Uint8Array(mqtt.generate({ cmd: 'publish', topic: 'f/a', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, ...fields } as Packet, { protocolVersion: 4 }));

  it('reaches 3.1/3.1.1 subscribers at QoS 0 as the very bytes it came in, and 5.0 subscribers as their own encoding', async () => {
    const h = new EngineHarness();
    const v4 = h.client(4);
    const v3 = h.client(3);
    const v5 = h.client(5);
    const atQos1 = h.client(4);
    for (const [c, qos] of [[v4, 0], [v3, 0], [v5, 0], [atQos1, 1]] as const) {
      await c.connect();
      await c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'f/#', qos }] });
      c.take('suback');
    }
    const pub = h.client(4);
    await pub.connect();
    const sent = publishBytes({});
    await pub.sendRaw(sent);
    // Not written again: the buffer the publisher's bytes arrived in.
    expect(v4.frames.at(-1)!.buffer).toBe(sent.buffer);
    expect(v3.frames.at(-1)!.buffer).toBe(sent.buffer);
    expect([...v4.frames.at(-1)!]).toEqual([...sent]);
    // 5.0 has a property length.
    expect(v5.take<IPublishPacket>('publish')).toMatchObject({ topic: 'f/a', qos: 0 });
    expect(v5.frames.at(-1)!.buffer).not.toBe(sent.buffer);
    // A QoS 0 message stays QoS 0 for a QoS 1 subscription [MQTT-3.8.4-8]: the same bytes again.
    expect(atQos1.take<IPublishPacket>('publish')).toMatchObject({ topic: 'f/a', qos: 0 });
    expect(atQos1.frames.at(-1)!.buffer).toBe(sent.buffer);
  });

  it('writes anew what must differ from what arrived: the retain flag of a live delivery [MQTT-3.3.1-9], and the packet identifier of each QoS 1 delivery', async () => {
    const h = new EngineHarness();
    const sub = h.client(4);
    await sub.connect();
    await sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'f/#', qos: 1 }] });
    sub.take('suback');
    const pub = h.client(4);
    await pub.connect();
    await pub.sendRaw(publishBytes({ retain: true }));
    const live = sub.frames.at(-1)!;
    expect(live[0]).toBe(0x30);
    expect(sub.take<IPublishPacket>('publish')).toMatchObject({ topic: 'f/a', retain: false, qos: 0 });
    await pub.sendRaw(publishBytes({ qos: 1, messageId: 0x4242 }));
    const qos1 = sub.take<IPublishPacket>('publish');
    expect(qos1).toMatchObject({ topic: 'f/a', qos: 1 });
    expect(qos1.messageId).not.toBe(0x4242);
  });
});

describe('a message\'s payload and the frame it arrived in', () => {
  const retained = (topic: string, payload: Buffer) =>
    new Uint8Array(mqtt.generate({ cmd: 'publish', topic, payload, qos: 0, retain: true, dup: false } as Packet, { protocolVersion: 4 }));

  it('keeps a view of a frame that held only its packet, and copies the payload out of a frame that held more', async () => {
    const h = new EngineHarness();
    const pub = h.client(4);
    await pub.connect();
    const alone = retained('p/alone', Buffer.from('a'));
    await pub.sendRaw(alone);
    // Two packets in one frame: the first one's payload would keep the second, 1 KiB, alive in a queue that counts one byte.
    const first = retained('p/first', Buffer.from('b'));
    const second = retained('p/second', Buffer.alloc(1024, 1));
    const frame = new Uint8Array(first.byteLength + second.byteLength);
    frame.set(first);
    frame.set(second, first.byteLength);
    await pub.sendRaw(frame);
    const [a] = h.engine.retainedMatching(['p/alone'], h.clock.now());
    const [b] = h.engine.retainedMatching(['p/first'], h.clock.now());
    expect(a.payload.buffer).toBe(alone.buffer);
    expect(b.payload.buffer).not.toBe(frame.buffer);
    expect(b.payload.buffer.byteLength).toBe(1);
    expect(Buffer.from(b.payload).toString()).toBe('b');
  });
});

describe('a connection\'s snapshot', () => {
  it('is written when its CONNECT is accepted, or by the alarm once hibernationGuardMs has passed, so a connection that waits survives hibernation', async () => {
    // Long enough for the waiting client to outlast the guard twice (hibernate() lets it pass again).
    const h = new EngineHarness({ config: { connectTimeoutMs: 60_000 } });
    const waiting = h.client(4);
    const prompt = h.client(4);
    // Nothing written at the upgrade: almost every client sends its CONNECT at once.
    expect(h.snapshots.has(waiting.id)).toBe(false);
    expect(h.snapshots.has(prompt.id)).toBe(false);
    await prompt.connect();
    expect(h.snapshots.get(prompt.id)).toMatchObject({ clientId: prompt.id });
    expect(h.engine.nextWakeAt()).toBe(h.clock.now() + h.config.hibernationGuardMs);
    h.tick(h.config.hibernationGuardMs);
    expect(h.snapshots.get(waiting.id)).toMatchObject({ connectionId: waiting.id, clientId: null });
    // hibernate() lets the guard pass again, as the platform does, and then forgets everything in memory.
    h.hibernate();
    expect(await waiting.connect()).toMatchObject({ returnCode: 0 });
  });

  it('brings the alarm to hibernationGuardMs after the upgrade while a connection waits, and to nothing earlier', () => {
    const h = new EngineHarness({ config: { connectTimeoutMs: 60_000 } });
    const openedAt = h.clock.now();
    const waiting = h.client(4);
    h.tick(1_000);
    h.client(4);
    expect(h.engine.nextWakeAt()).toBe(openedAt + h.config.hibernationGuardMs);
    h.tick(h.config.hibernationGuardMs - 1_000);
    expect(h.snapshots.has(waiting.id)).toBe(true);
  });

  it('is never written for a connection that ends before the alarm', async () => {
    const h = new EngineHarness();
    const brief = h.client(4);
    brief.close();
    h.tick(h.config.hibernationGuardMs);
    expect(h.snapshots.has(brief.id)).toBe(false);
  });
});
