import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '../support/broker-process';
import { collectMessages, connectClient, until } from './mqtt-clients';

let broker: BrokerHandle;
beforeAll(async () => {
  broker = await startBroker({ vars: { MQTT_SYS_INTERVAL_SECONDS: '1' } });
});
afterAll(async () => {
  await broker?.stop();
});

describe('14 $SYS statistics', () => {
  it('publishes broker statistics in mosquitto layout to $SYS subscribers', async () => {
    const watcher = await connectClient(broker.wsUrl);
    const got = collectMessages(watcher);
    await watcher.subscribeAsync('$SYS/broker/#');
    const value = (topic: string) => got.filter((m) => m.topic === topic).at(-1)?.payload;
    await until(() => value('$SYS/broker/clients/connected') !== undefined, 5000, 'first $SYS values');
    expect(value('$SYS/broker/version')).toMatch(/^EdgeMQ /);
    expect(value('$SYS/broker/uptime')).toMatch(/^\d+ seconds$/);
    expect(Number(value('$SYS/broker/subscriptions/count'))).toBeGreaterThanOrEqual(1);
    // The first values are sent as retained, like mosquitto's.
    expect(got.find((m) => m.topic === '$SYS/broker/version')!.packet.retain).toBe(true);

    const before = Number(value('$SYS/broker/publish/messages/received'));
    const pub = await connectClient(broker.wsUrl);
    for (let i = 0; i < 5; i++) await pub.publishAsync('sys/load', 'x', { qos: 1 });
    await until(() => Number(value('$SYS/broker/clients/connected')) === 2 && Number(value('$SYS/broker/publish/messages/received')) >= before + 5, 6000, 'updated counters');
    await pub.endAsync();
    await watcher.endAsync();
  });

  it('does not deliver $SYS topics to a plain # subscription', async () => {
    const c = await connectClient(broker.wsUrl);
    const got = collectMessages(c);
    await c.subscribeAsync('#');
    await new Promise((r) => setTimeout(r, 1500));
    expect(got.filter((m) => m.topic.startsWith('$SYS'))).toHaveLength(0);
    await c.endAsync();
  });
});
