import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IPublishPacket } from 'mqtt-packet';
import { startBroker, type BrokerHandle } from '../support/broker-process';
import { collectMessages, connackPacket, connectClient, RawWsClient, sleep, until } from './mqtt-clients';

let broker: BrokerHandle;
beforeAll(async () => {
  broker = await startBroker({ vars: { MQTT_MAX_QUEUED_MESSAGES: '5' } });
});
afterAll(async () => {
  await broker?.stop();
});

const persistent5 = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 3600 } };

describe('05 sessions', () => {
  it('queues QoS 1/2 for an offline persistent session and resumes it with session present (3.1.1 and 5.0)', async () => {
    for (const opts of [{ protocolVersion: 4 as const, clean: false }, persistent5]) {
      const clientId = `offline-${opts.protocolVersion}`;
      const sub = await connectClient(broker.wsUrl, { ...opts, clientId });
      await sub.subscribeAsync(`offline/${opts.protocolVersion}`, { qos: 2 });
      await sub.endAsync();
      const pub = await connectClient(broker.wsUrl);
      await pub.publishAsync(`offline/${opts.protocolVersion}`, 'q1', { qos: 1 });
      await pub.publishAsync(`offline/${opts.protocolVersion}`, 'q2', { qos: 2 });
      await pub.publishAsync(`offline/${opts.protocolVersion}`, 'q0-not-queued', { qos: 0 });
      await pub.endAsync();
      const back = await connectClient(broker.wsUrl, { ...opts, clientId });
      expect(connackPacket(back).sessionPresent).toBe(true);
      // Queued messages may arrive before a 'message' listener exists, so read the packet log.
      const published = () => back.packets.filter((p): p is IPublishPacket => p.cmd === 'publish');
      await until(() => published().length === 2, 5000, 'queued messages');
      await sleep(200);
      expect(published().map((p) => [Buffer.from(p.payload as Buffer).toString(), p.qos])).toEqual([
        ['q1', 1],
        ['q2', 2],
      ]);
      await back.endAsync();
    }
  });

  it('starts fresh with Clean Start and drops what the old session had', async () => {
    const sub = await connectClient(broker.wsUrl, { ...persistent5, clientId: 'cleaner' });
    await sub.subscribeAsync('clean/x', { qos: 1 });
    await sub.endAsync();
    const raw = await RawWsClient.open(broker.wsUrl, 5);
    const ack = await raw.connect({ clientId: 'cleaner', clean: true });
    expect(ack).toMatchObject({ sessionPresent: false, reasonCode: 0 });
    const pub = await connectClient(broker.wsUrl);
    await pub.publishAsync('clean/x', 'nobody', { qos: 1 });
    await sleep(300);
    expect(raw.packets.filter((p) => p.cmd === 'publish')).toHaveLength(0);
    raw.close();
    await pub.endAsync();
  });

  it('redelivers an unacknowledged QoS 1 message with DUP after reconnect', async () => {
    const raw = await RawWsClient.open(broker.wsUrl, 4);
    await raw.connect({ clientId: 'dup-me', clean: false });
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'dup/x', qos: 1 }] });
    await raw.next('suback');
    const pub = await connectClient(broker.wsUrl);
    await pub.publishAsync('dup/x', 'again', { qos: 1 });
    const first = await raw.next<IPublishPacket>('publish');
    expect(first.dup).toBe(false);
    raw.close(); // no PUBACK
    await raw.waitClosed();
    const back = await RawWsClient.open(broker.wsUrl, 4);
    expect(await back.connect({ clientId: 'dup-me', clean: false })).toMatchObject({ sessionPresent: true });
    const again = await back.next<IPublishPacket>('publish');
    expect(again).toMatchObject({ dup: true, messageId: first.messageId, qos: 1, topic: 'dup/x' });
    back.send({ cmd: 'puback', messageId: again.messageId });
    back.close();
    await pub.endAsync();
  });

  it('bounds the offline queue and drops (and counts) the overflow', async () => {
    const sub = await connectClient(broker.wsUrl, { ...persistent5, clientId: 'bounded' });
    await sub.subscribeAsync('bounded', { qos: 1 });
    await sub.endAsync();
    const pub = await connectClient(broker.wsUrl);
    for (let i = 0; i < 8; i++) await pub.publishAsync('bounded', String(i), { qos: 1 });
    await pub.endAsync();
    const back = await connectClient(broker.wsUrl, { ...persistent5, clientId: 'bounded' });
    const published = () => back.packets.filter((p): p is IPublishPacket => p.cmd === 'publish');
    await until(() => published().length === 5, 5000, 'five queued');
    await sleep(300);
    expect(published().map((p) => Buffer.from(p.payload as Buffer).toString())).toEqual(['0', '1', '2', '3', '4']);
    const sys = collectMessages(back);
    await back.subscribeAsync('$SYS/broker/publish/messages/dropped');
    await until(() => sys.some((m) => m.topic === '$SYS/broker/publish/messages/dropped'), 5000, '$SYS dropped');
    expect(Number(sys.find((m) => m.topic === '$SYS/broker/publish/messages/dropped')!.payload)).toBeGreaterThanOrEqual(3);
    await back.endAsync();
  });

  it('expires a disconnected session after its Session Expiry Interval', async () => {
    const sub = await connectClient(broker.wsUrl, { protocolVersion: 5, clean: false, clientId: 'short-lived', properties: { sessionExpiryInterval: 1 } });
    await sub.subscribeAsync('short/x', { qos: 1 });
    await sub.endAsync();
    await sleep(2500);
    const raw = await RawWsClient.open(broker.wsUrl, 5);
    expect(await raw.connect({ clientId: 'short-lived', clean: false, properties: { sessionExpiryInterval: 1 } })).toMatchObject({ sessionPresent: false });
    raw.close();
  });

  it('resumes a persistent session and an unfinished QoS 2 flow after the broker restarts', async () => {
    const sub = await RawWsClient.open(broker.wsUrl, 5);
    await sub.connect({ clientId: 'restart-sub', clean: false, properties: { sessionExpiryInterval: 3600 } });
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'restart/#', qos: 2 }] });
    await sub.next('suback');
    const pub = await RawWsClient.open(broker.wsUrl, 5);
    await pub.connect({ clientId: 'restart-pub', clean: false, properties: { sessionExpiryInterval: 3600 } });
    pub.send({ cmd: 'publish', topic: 'restart/q2', payload: Buffer.from('once'), qos: 2, messageId: 77, retain: false, dup: false });
    await pub.next('pubrec');
    const first = await sub.next<IPublishPacket>('publish');
    // Subscriber acknowledges with PUBREC but the broker dies before PUBCOMP.
    sub.send({ cmd: 'pubrec', messageId: first.messageId });
    await sub.next('pubrel');

    await broker.restart();

    const pub2 = await RawWsClient.open(broker.wsUrl, 5);
    expect(await pub2.connect({ clientId: 'restart-pub', clean: false, properties: { sessionExpiryInterval: 3600 } })).toMatchObject({ sessionPresent: true });
    pub2.send({ cmd: 'pubrel', messageId: 77 });
    expect(await pub2.next('pubcomp')).toMatchObject({ messageId: 77, reasonCode: 0 });

    const sub2 = await RawWsClient.open(broker.wsUrl, 5);
    expect(await sub2.connect({ clientId: 'restart-sub', clean: false, properties: { sessionExpiryInterval: 3600 } })).toMatchObject({ sessionPresent: true });
    // The broker resumes where it was: PUBREL again, not the message again [MQTT-4.4.0-1].
    expect(await sub2.next('pubrel')).toMatchObject({ messageId: first.messageId });
    sub2.send({ cmd: 'pubcomp', messageId: first.messageId });
    await sleep(300);
    expect(sub2.packets.filter((p) => p.cmd === 'publish')).toHaveLength(0);
    pub2.close();
    sub2.close();
  });
});
