import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as codec from 'mqtt-packet';
import WebSocket from 'ws';
import { startAdminBroker } from '../support/admin-broker';
import type { AdminCall } from '../support/admin-session';
import type { BrokerHandle } from '../support/broker-process';
import { collectMessages, connectClient, RawWsClient, until } from './mqtt-clients';
import { expectAssignedClientId, expectKeepaliveExpiryWithWill, expectMalformedConnectsRefused, expectRateLimitCutOff, shardEvents as eventsOf } from './connection-duties';

/**
 * What the edge gateway in the Worker does for real clients, shown with the
 * shard's own counters of billed Durable Object events (/api/v1/stats,
 * `durableObject`): PINGREQ and keepalive never reach the shard, a PUBLISH
 * split over several frames reaches it as one message, and a malformed
 * CONNECT costs it nothing.
 */
const ADMIN = { username: 'admin', password: 'e2e-admin-password-gateway' };

let broker: BrokerHandle;
let api: AdminCall;

beforeAll(async () => {
  ({ broker, api } = await startAdminBroker(ADMIN));
});
afterAll(async () => {
  await broker?.stop();
});

const shardEvents = () => eventsOf(api);

describe('15 edge gateway', () => {
  it('answers PINGREQ at the edge: fifty pings, and the shard receives no WebSocket message', async () => {
    const raw = await RawWsClient.open(broker.wsUrl, 4);
    expect(await raw.connect({ clientId: 'gw-pinger', keepalive: 60 })).toMatchObject({ cmd: 'connack', returnCode: 0 });
    const before = await shardEvents();
    for (let i = 0; i < 50; i++) {
      raw.sendBytes(Buffer.from([0xc0, 0x00]));
      await raw.next('pingresp');
    }
    const after = await shardEvents();
    expect(after.webSocketMessagesIn).toBe(before.webSocketMessagesIn);
    // The counter does move for what the shard must see.
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'gw/ping', qos: 0 }] });
    await raw.next('suback');
    expect((await shardEvents()).webSocketMessagesIn).toBe(before.webSocketMessagesIn + 1);
    raw.close();
  });

  it('enforces the keepalive at the edge: 5.0 DISCONNECT 0x8D, and the will reaches a subscriber', async () => {
    // After 1.5 s of silence the edge tells the shard, which ends the connection as its own timer would.
    await expectKeepaliveExpiryWithWill(broker.wsUrl, 'gw');
  });

  it('keeps a 3.1.1 connection alive on PINGREQ alone and closes it once they stop', async () => {
    const raw = await RawWsClient.open(broker.wsUrl, 4);
    // Keepalive 2: closed 3 s after the last packet ([MQTT-3.1.2-24] in 3.1.1). Eight pings 600 ms apart outlast that
    // deadline, each with 2.4 s to spare on a slow machine.
    await raw.connect({ clientId: 'gw-v4-keepalive', keepalive: 2 });
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 600));
      raw.sendBytes(Buffer.from([0xc0, 0x00]));
      await raw.next('pingresp');
    }
    expect(raw.closing).toBe(false);
    await raw.waitClosed(10_000);
    expect(raw.packets.filter((p) => p.cmd !== 'pingresp')).toHaveLength(0);
  });

  it('delivers a PUBLISH sent as five WebSocket frames to the shard as one message', async () => {
    const sub = await connectClient(broker.wsUrl, { clientId: 'gw-frames-sub' });
    const got = collectMessages(sub);
    await sub.subscribeAsync('gw/frames', { qos: 0 });
    const raw = await RawWsClient.open(broker.wsUrl, 5);
    await raw.connect({ clientId: 'gw-frames-pub' });
    const publish = codec.generate({ cmd: 'publish', topic: 'gw/frames', payload: Buffer.alloc(48, 0x61), qos: 1, messageId: 7, retain: false, dup: false }, { protocolVersion: 5 });
    expect(publish.length).toBe(64);
    const before = await shardEvents();
    // How MQTT.js on Node writes a PUBLISH: header, length, topic length, topic, payload.
    for (const [from, to] of [[0, 1], [1, 2], [2, 4], [4, 13], [13, 64]]) raw.sendBytes(publish.subarray(from, to));
    expect(await raw.next('puback')).toMatchObject({ messageId: 7 });
    await until(() => got.length === 1, 5000, 'delivery');
    const after = await shardEvents();
    expect(after.webSocketMessagesIn - before.webSocketMessagesIn).toBe(1);
    raw.close();
    await sub.endAsync();
  });

  it('delivers each MQTT.js PUBLISH to the shard as one message, however many frames the client wrote', async () => {
    const frames = { count: 0 };
    const send = WebSocket.prototype.send;
    const pub = await connectClient(broker.wsUrl, { clientId: 'gw-mqttjs-pub' });
    const before = await shardEvents();
    WebSocket.prototype.send = function countingSend(this: WebSocket, ...args: Parameters<WebSocket['send']>) {
      frames.count++;
      return send.apply(this, args);
    } as WebSocket['send'];
    try {
      for (let i = 0; i < 5; i++) await pub.publishAsync('gw/mqttjs', Buffer.alloc(48, 0x62), { qos: 1 });
    } finally {
      WebSocket.prototype.send = send;
    }
    const after = await shardEvents();
    // Five PUBLISHes, each acknowledged before the next: five messages reach the shard.
    expect(after.webSocketMessagesIn - before.webSocketMessagesIn).toBe(5);
    expect(frames.count).toBeGreaterThanOrEqual(5);
    await pub.endAsync();
  });

  it('cuts off a publisher beyond MQTT_MAX_PUBLISH_RATE at the edge: DISCONNECT 0x96, and nothing past the burst is delivered', async () => {
    await expectRateLimitCutOff(broker.wsUrl, 'gw');
  });

  it('assigns the client id of a 5.0 client that sent none, and the session lives under it', async () => {
    await expectAssignedClientId(broker.wsUrl, api);
  });

  it('refuses malformed CONNECTs at the edge with the bytes the shard sends, and the shard never hears of them', async () => {
    const before = await shardEvents();
    await expectMalformedConnectsRefused(broker.wsUrl);
    const after = await shardEvents();
    expect(after.upgrades).toBe(before.upgrades);
    expect(after.webSocketMessagesIn).toBe(before.webSocketMessagesIn);
  });
});
