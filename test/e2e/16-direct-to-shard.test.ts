import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IDisconnectPacket } from 'mqtt-packet';
import * as codec from 'mqtt-packet';
import { startAdminBroker } from '../support/admin-broker';
import type { AdminCall } from '../support/admin-session';
import type { BrokerHandle } from '../support/broker-process';
import { collectMessages, connectClient, RawWsClient, until } from './mqtt-clients';
import { expectAssignedClientId, expectKeepaliveExpiryWithWill, expectMalformedConnectsRefused, expectRateLimitCutOff, shardEvents as eventsOf } from './connection-duties';

/**
 * BROKER_GATEWAY=direct with real clients: the Worker hands the upgrade to
 * the one shard, so every frame the client writes is an event of the shard
 * (its own counter of billed Durable Object events, /api/v1/stats), and the
 * shard does what the edge gateway does otherwise: it answers PINGREQ, keeps
 * the keepalive, joins a packet written over several frames and refuses
 * text frames, forged gateway messages included.
 */
const ADMIN = { username: 'admin', password: 'e2e-admin-password-direct' };

let broker: BrokerHandle;
let api: AdminCall;

beforeAll(async () => {
  ({ broker, api } = await startAdminBroker(ADMIN, { BROKER_SHARDS: '1', BROKER_GATEWAY: 'direct' }));
});
afterAll(async () => {
  await broker?.stop();
});

const shardEvents = () => eventsOf(api);

describe('16 client sockets directly in the shard', () => {
  it('answers PINGREQ in the shard: ten pings, ten PINGRESPs, ten WebSocket messages to the shard', async () => {
    const raw = await RawWsClient.open(broker.wsUrl, 4);
    expect(await raw.connect({ clientId: 'direct-pinger', keepalive: 60 })).toMatchObject({ cmd: 'connack', returnCode: 0 });
    const before = await shardEvents();
    for (let i = 0; i < 10; i++) {
      raw.sendBytes(Buffer.from([0xc0, 0x00]));
      await raw.next('pingresp');
    }
    // PINGRESP is exactly 0xD0 0x00 [MQTT-3.13.4-1].
    expect(raw.received.subarray(-2)).toEqual(Buffer.from([0xd0, 0x00]));
    const after = await shardEvents();
    expect(after.webSocketMessagesIn - before.webSocketMessagesIn).toBe(10);
    raw.close();
  });

  it('joins a PUBLISH written as five WebSocket frames: five messages to the shard, one delivery, one PUBACK', async () => {
    const sub = await connectClient(broker.wsUrl, { clientId: 'direct-frames-sub' });
    const got = collectMessages(sub);
    await sub.subscribeAsync('direct/frames', { qos: 0 });
    const raw = await RawWsClient.open(broker.wsUrl, 5);
    await raw.connect({ clientId: 'direct-frames-pub' });
    const publish = codec.generate({ cmd: 'publish', topic: 'direct/frames', payload: Buffer.alloc(48, 0x61), qos: 1, messageId: 7, retain: false, dup: false }, { protocolVersion: 5 });
    const before = await shardEvents();
    // How MQTT.js on Node writes a PUBLISH: header, length, topic length, topic, payload.
    for (const [from, to] of [[0, 1], [1, 2], [2, 4], [4, 17], [17, publish.length]]) raw.sendBytes(publish.subarray(from, to));
    expect(await raw.next('puback')).toMatchObject({ messageId: 7 });
    await until(() => got.length === 1, 5000, 'delivery');
    expect(got[0]).toMatchObject({ topic: 'direct/frames', payload: 'a'.repeat(48) });
    const after = await shardEvents();
    expect(after.webSocketMessagesIn - before.webSocketMessagesIn).toBe(5);
    raw.close();
    await sub.endAsync();
  });

  it('keeps the keepalive in the shard: 5.0 DISCONNECT 0x8D after 1.5 x, and the will reaches a subscriber', async () => {
    // The shard's own alarm ends it: no gateway watches this socket.
    await expectKeepaliveExpiryWithWill(broker.wsUrl, 'direct');
  });

  it('refuses a text frame, even one shaped like the gateway’s own message: 5.0 DISCONNECT 0x81 [MQTT-6.0.0-1], and the will goes out', async () => {
    const watcher = await connectClient(broker.wsUrl, { clientId: 'direct-text-watcher' });
    const got = collectMessages(watcher);
    await watcher.subscribeAsync('direct/text/#', { qos: 1 });
    const raw = await RawWsClient.open(broker.wsUrl, 5);
    await raw.connect({
      clientId: 'direct-texter',
      will: { topic: 'direct/text/will', payload: Buffer.from('w'), qos: 1, retain: false },
    });
    // Through the gateway this text would mean "keepalive expired" (worker/gateway/control.ts): here a client wrote it.
    raw.sendBytes(JSON.stringify({ type: 'keepalive-expired' }));
    const disconnect = await raw.next<IDisconnectPacket>('disconnect', 5000);
    expect(disconnect.reasonCode).toBe(0x81);
    await raw.waitClosed();
    // A protocol error publishes the will [MQTT-3.1.2-8]; a forged expiry would have too, so the reason code is what tells.
    await until(() => got.length === 1, 5000, 'the will');
    await watcher.endAsync();
  });

  it('cuts off a publisher beyond MQTT_MAX_PUBLISH_RATE in the shard: DISCONNECT 0x96, and nothing past the burst is delivered', async () => {
    await expectRateLimitCutOff(broker.wsUrl, 'direct');
  });

  it('assigns the client id of a 5.0 client that sent none in the shard, and the session lives under it', async () => {
    await expectAssignedClientId(broker.wsUrl, api);
  });

  it('answers malformed CONNECTs from the shard with the same bytes the gateway sends', async () => {
    const before = await shardEvents();
    await expectMalformedConnectsRefused(broker.wsUrl);
    // Here the shard itself took the four sockets and read each first packet.
    const after = await shardEvents();
    expect(after.upgrades - before.upgrades).toBe(4);
    expect(after.webSocketMessagesIn - before.webSocketMessagesIn).toBe(4);
  });
});
