import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '../support/broker-process';
import { collectMessages, connectClient, sleep, until } from './mqtt-clients';

let broker: BrokerHandle;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker?.stop();
});

describe('04 retained messages', () => {
  it('stores the last retained message per topic, delivers it on subscribe with RETAIN set, and deletes it on an empty payload', async () => {
    const pub = await connectClient(broker.wsUrl, { protocolVersion: 4 });
    await pub.publishAsync('ret/a', 'first', { qos: 1, retain: true });
    await pub.publishAsync('ret/a', 'second', { qos: 1, retain: true });
    await pub.publishAsync('ret/b', 'doomed', { qos: 1, retain: true });
    await pub.publishAsync('ret/b', '', { qos: 1, retain: true });
    for (const protocolVersion of [4, 5] as const) {
      const sub = await connectClient(broker.wsUrl, { protocolVersion });
      const got = collectMessages(sub);
      await sub.subscribeAsync('ret/+', { qos: 1 });
      await until(() => got.length >= 1, 5000, 'retained delivery');
      await sleep(300);
      expect(got.map((m) => [m.topic, m.payload, m.packet.retain])).toEqual([['ret/a', 'second', true]]);
      await sub.endAsync();
    }
    await pub.endAsync();
  });

  it('honours Retain Handling 0, 1 and 2', async () => {
    const pub = await connectClient(broker.wsUrl);
    await pub.publishAsync('rh/x', 'kept', { qos: 1, retain: true });
    const sub = await connectClient(broker.wsUrl);
    const got = collectMessages(sub);
    await sub.subscribeAsync('rh/#', { qos: 1, rh: 2 });
    await sleep(400);
    expect(got).toHaveLength(0);
    await sub.unsubscribeAsync('rh/#');
    await sub.subscribeAsync('rh/#', { qos: 1, rh: 1 });
    await until(() => got.length === 1, 5000, 'rh=1 first time');
    await sub.subscribeAsync('rh/#', { qos: 1, rh: 1 });
    await sleep(400);
    expect(got).toHaveLength(1);
    await sub.subscribeAsync('rh/#', { qos: 1, rh: 0 });
    await until(() => got.length === 2, 5000, 'rh=0 on every subscribe');
    await Promise.all([sub.endAsync(), pub.endAsync()]);
  });

  it('forwards live messages with RETAIN cleared unless Retain As Published', async () => {
    const plain = await connectClient(broker.wsUrl);
    const rap = await connectClient(broker.wsUrl);
    const plainGot = collectMessages(plain);
    const rapGot = collectMessages(rap);
    await plain.subscribeAsync('rap/live', { qos: 1, rh: 2 });
    await rap.subscribeAsync('rap/live', { qos: 1, rh: 2, rap: true });
    const pub = await connectClient(broker.wsUrl);
    await pub.publishAsync('rap/live', 'now', { qos: 1, retain: true });
    await until(() => plainGot.length === 1 && rapGot.length === 1, 5000, 'both deliveries');
    expect(plainGot[0].packet.retain).toBe(false);
    expect(rapGot[0].packet.retain).toBe(true);
    await Promise.all([plain.endAsync(), rap.endAsync(), pub.endAsync()]);
  });

  it('keeps retained messages across a broker restart', async () => {
    const pub = await connectClient(broker.wsUrl);
    await pub.publishAsync('ret/durable', 'survives', { qos: 1, retain: true });
    await pub.endAsync();
    await broker.restart();
    const sub = await connectClient(broker.wsUrl);
    const got = collectMessages(sub);
    await sub.subscribeAsync('ret/durable');
    await until(() => got.length === 1, 5000, 'retained after restart');
    expect(got[0].payload).toBe('survives');
    await sub.endAsync();
  });
});
