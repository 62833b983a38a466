import { expect } from 'vitest';
import type { IConnackPacket, IDisconnectPacket } from 'mqtt-packet';
import * as codec from 'mqtt-packet';
import type { AdminCall } from '../support/admin-session';
import { collectMessages, connackPacket, connectClient, RawWsClient, until } from './mqtt-clients';

/**
 * Duties the edge gateway carries for a connection, or the shard itself with
 * BROKER_GATEWAY=direct: a client must see the same bytes either way.
 * 15-edge-gateway and 16-direct-to-shard run them, each with its own
 * assertions on which side paid for them.
 */

/** The shard's own counters of billed Durable Object events (/api/v1/stats, `durableObject`). */
export interface DurableObjectEvents {
  webSocketMessagesIn: number;
  webSocketMessagesOut: number;
  upgrades: number;
  alarms: number;
}

export async function shardEvents(api: AdminCall): Promise<DurableObjectEvents> {
  const res = await api<{ durableObject: DurableObjectEvents }>('GET', '/stats');
  expect(res.status).toBe(200);
  return res.body.durableObject;
}

/** A publisher beyond MQTT_MAX_PUBLISH_RATE (1,000 a second by default) gets DISCONNECT 0x96, and nothing past the burst is delivered. */
export async function expectRateLimitCutOff(wsUrl: string, prefix: string): Promise<void> {
  const sub = await connectClient(wsUrl, { clientId: `${prefix}-rate-sub` });
  const got = collectMessages(sub);
  await sub.subscribeAsync(`${prefix}/rate`, { qos: 0 });
  const raw = await RawWsClient.open(wsUrl, 5);
  await raw.connect({ clientId: `${prefix}-flooder` });
  const one = codec.generate({ cmd: 'publish', topic: `${prefix}/rate`, payload: Buffer.from('f'), qos: 0, retain: false, dup: false }, { protocolVersion: 5 });
  // 3,000 PUBLISH in one frame against the default 1,000 a second. The bucket refills
  // one token a millisecond while the frame is handled, so the flood must outrun the
  // refill however slowly a loaded machine handles it: with 1,100, a shard taking more
  // than 0.1 ms a packet let every one through.
  const flood = 3000;
  raw.sendBytes(Buffer.concat(Array.from({ length: flood }, () => one)));
  expect((await raw.next<IDisconnectPacket>('disconnect', 10_000)).reasonCode).toBe(0x96);
  await raw.waitClosed();
  await until(() => got.length >= 1000, 10_000, 'the burst');
  await new Promise((r) => setTimeout(r, 300));
  // The burst and what the bucket refilled while the frame was handled arrive; the rest never does.
  expect(got.length).toBeGreaterThanOrEqual(1000);
  expect(got.length).toBeLessThan(flood);
  await sub.endAsync();
}

/** A 5.0 client that sent no client id gets one in its CONNACK [MQTT-3.2.2-16], and its session lives under it. */
export async function expectAssignedClientId(wsUrl: string, api: AdminCall): Promise<void> {
  const c = await connectClient(wsUrl, { clientId: '' });
  const assigned = connackPacket(c).properties?.assignedClientIdentifier;
  expect(assigned).toMatch(/^edgemq-[0-9a-f-]{36}$/);
  const session = await api<{ clientId: string; connected: boolean }>('GET', `/sessions/${encodeURIComponent(assigned!)}`);
  expect(session.status).toBe(200);
  expect(session.body).toMatchObject({ clientId: assigned, connected: true });
  await c.endAsync();
}

/** Four first packets that are refused, each with its exact answer; four sockets, one frame each. */
export async function expectMalformedConnectsRefused(wsUrl: string): Promise<void> {
  // 5.0 CONNECT with Receive Maximum 0, a Protocol Error [MQTT-3.1.2.11.3].
  const v5 = await RawWsClient.open(wsUrl, 5);
  v5.sendBytes(Buffer.from('1011 0004 4d515454 05 02 001e 03 210000 0001 61'.replace(/ /g, ''), 'hex'));
  const refused = await v5.next<IConnackPacket>('connack');
  expect(refused.reasonCode).toBe(0x82);
  expect(refused.properties?.reasonString).toMatch(/receiveMaximum/);
  await v5.waitClosed();
  // Protocol level 9: 3.1.1 return code 1 [MQTT-3.1.2-2].
  const level = await RawWsClient.open(wsUrl, 4);
  level.sendBytes(Buffer.from('100d 0004 4d515454 09 02 001e 0001 61'.replace(/ /g, ''), 'hex'));
  expect(await level.next<IConnackPacket>('connack')).toMatchObject({ returnCode: 1 });
  await level.waitClosed();
  // 3.1.1 with an empty client id and Clean Session 0: return code 2 [MQTT-3.1.3-8].
  const emptyId = await RawWsClient.open(wsUrl, 4);
  emptyId.sendBytes(Buffer.from('100c 0004 4d515454 04 00 001e 0000'.replace(/ /g, ''), 'hex'));
  expect(await emptyId.next<IConnackPacket>('connack')).toMatchObject({ returnCode: 2 });
  await emptyId.waitClosed();
  // A first packet that is not CONNECT: closed without an answer [MQTT-3.1.0-1].
  const ping = await RawWsClient.open(wsUrl, 4);
  ping.sendBytes(Buffer.from([0xc0, 0x00]));
  await ping.waitClosed();
  expect(ping.packets).toHaveLength(0);
}

/** A 5.0 client silent past 1.5 x its keepalive [MQTT-3.1.2-22] gets DISCONNECT 0x8D, and its will reaches a subscriber. */
export async function expectKeepaliveExpiryWithWill(wsUrl: string, prefix: string): Promise<void> {
  const watcher = await connectClient(wsUrl, { clientId: `${prefix}-will-watcher` });
  const got = collectMessages(watcher);
  await watcher.subscribeAsync(`${prefix}/will/#`, { qos: 1 });
  const silent = await RawWsClient.open(wsUrl, 5);
  const ack = (await silent.connect({
    clientId: `${prefix}-silent`,
    keepalive: 1,
    will: { topic: `${prefix}/will/silent`, payload: Buffer.from('gone quiet'), qos: 1, retain: false },
  })) as IConnackPacket;
  expect(ack.reasonCode).toBe(0);
  // The client sends nothing more: ended as a network loss, so the will goes out.
  const disconnect = await silent.next<IDisconnectPacket>('disconnect', 10_000);
  expect(disconnect.reasonCode).toBe(0x8d);
  await silent.waitClosed();
  await until(() => got.length === 1, 10_000, 'the will');
  expect(got[0]).toMatchObject({ topic: `${prefix}/will/silent`, payload: 'gone quiet' });
  await watcher.endAsync();
}
