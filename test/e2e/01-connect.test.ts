import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IConnackPacket, IDisconnectPacket } from 'mqtt-packet';
import { startBroker, type BrokerHandle } from '../support/broker-process';
import { connackOf, connectClient, RawWsClient, until } from './mqtt-clients';

let broker: BrokerHandle;
beforeAll(async () => {
  broker = await startBroker({ vars: { MQTT_CONNECT_TIMEOUT_SECONDS: '2', MQTT_MAX_KEEPALIVE_SECONDS: '120' } });
});
afterAll(async () => {
  await broker?.stop();
});

describe('01 connect', () => {
  it('accepts MQTT 3.1.1 and 5.0 clients from MQTT.js with CONNACK 0', async () => {
    for (const protocolVersion of [4, 5] as const) {
      const client = await connectClient(broker.wsUrl, { protocolVersion });
      expect(client.connected).toBe(true);
      await client.endAsync();
    }
  });

  it('announces the broker limits in the MQTT 5 CONNACK', async () => {
    const ack = (await connackOf(broker.wsUrl, { protocolVersion: 5, clientId: 'limits' })) as IConnackPacket;
    expect(ack.reasonCode).toBe(0);
    expect(ack.properties).toMatchObject({
      receiveMaximum: 100,
      maximumPacketSize: 262144,
      topicAliasMaximum: 10,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true,
    });
  });

  it('assigns a client identifier to an empty one (5.0)', async () => {
    const ack = (await connackOf(broker.wsUrl, { protocolVersion: 5, clientId: '' })) as IConnackPacket;
    expect(ack.reasonCode).toBe(0);
    expect(ack.properties?.assignedClientIdentifier).toMatch(/^edgemq-/);
  });

  it('refuses an empty client identifier without clean session (3.1.1) with return code 2', async () => {
    const raw = await RawWsClient.open(broker.wsUrl, 4);
    // Libraries refuse to build this CONNECT, so it is written by hand: level 4, clean=0, empty id.
    raw.sendBytes(Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00]));
    const ack = await raw.next<IConnackPacket>('connack');
    expect(ack.returnCode).toBe(2);
    await raw.waitClosed();
  });

  it('answers an unsupported protocol level with return code 1', async () => {
    const raw = await RawWsClient.open(broker.wsUrl, 4);
    // CONNECT with protocol level 6: fixed header, "MQTT", level 6, flags clean, keepalive 0, client id "x".
    raw.sendBytes(Buffer.from([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x06, 0x02, 0x00, 0x00, 0x00, 0x01, 0x78]));
    const ack = await raw.next<IConnackPacket>('connack');
    expect(ack.returnCode).toBe(1);
    await raw.waitClosed();
  });

  it('closes a connection whose first packet is not CONNECT', async () => {
    const raw = await RawWsClient.open(broker.wsUrl, 4);
    raw.send({ cmd: 'pingreq' });
    await raw.waitClosed();
    expect(raw.packets).toHaveLength(0);
  });

  it('closes a connection that sends no CONNECT within the connect timeout', async () => {
    const raw = await RawWsClient.open(broker.wsUrl, 4);
    await raw.waitClosed(8000);
    expect(raw.packets).toHaveLength(0);
  });

  it('answers PINGREQ and enforces keepalive at 1.5 x the interval with DISCONNECT 0x8D', async () => {
    const raw = await RawWsClient.open(broker.wsUrl, 5);
    await raw.connect({ keepalive: 2 });
    raw.send({ cmd: 'pingreq' });
    await raw.next('pingresp');
    const started = Date.now();
    const disconnect = await raw.next<IDisconnectPacket>('disconnect', 10_000);
    expect(disconnect.reasonCode).toBe(0x8d);
    // Not before 1.5 x 2 s of silence.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_500);
    await raw.waitClosed();
  });

  it('sends Server Keep Alive when the client asks for more than the maximum', async () => {
    const ack = (await connackOf(broker.wsUrl, { protocolVersion: 5, keepalive: 600 })) as IConnackPacket;
    expect(ack.properties?.serverKeepAlive).toBe(120);
  });

  it('takes over a session: the old MQTT 5 connection gets DISCONNECT 0x8E', async () => {
    const old = await connectClient(broker.wsUrl, { protocolVersion: 5, clientId: 'takeover-me' });
    const fresh = await connectClient(broker.wsUrl, { protocolVersion: 5, clientId: 'takeover-me' });
    await until(() => old.packets.some((p) => p.cmd === 'disconnect'), 5000, 'DISCONNECT on the old connection');
    const d = old.packets.find((p) => p.cmd === 'disconnect') as IDisconnectPacket;
    expect(d.reasonCode).toBe(0x8e);
    expect(fresh.connected).toBe(true);
    old.end(true);
    await fresh.endAsync();
  });

  it('answers a second CONNECT with DISCONNECT 0x82', async () => {
    const raw = await RawWsClient.open(broker.wsUrl, 5);
    await raw.connect();
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'again' });
    expect((await raw.next<IDisconnectPacket>('disconnect')).reasonCode).toBe(0x82);
    await raw.waitClosed();
  });

  it('refuses anonymous clients when anonymous access is off', async () => {
    const closed = await startBroker({ vars: { ALLOW_ANONYMOUS: 'false' } });
    try {
      const v5 = (await connackOf(closed.wsUrl, { protocolVersion: 5 })) as IConnackPacket;
      expect(v5.reasonCode).toBe(0x87);
      const v4 = (await connackOf(closed.wsUrl, { protocolVersion: 4 })) as IConnackPacket;
      expect(v4.returnCode).toBe(5);
    } finally {
      await closed.stop();
    }
  });
});
