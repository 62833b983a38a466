import { describe, expect, it } from 'vitest';
import type { IPublishPacket } from 'mqtt-packet';
import { noFigures, type ClusterFigures, type ShardFigures } from './cluster-figures';
import { EngineHarness } from './testing/engine-harness';

const text = (p: IPublishPacket) => Buffer.from(p.payload as Uint8Array).toString();
const valuesOf = (h: EngineHarness) => new Map(h.engine.sys.values(h.clock.now()));

const figures = (overrides: Partial<ShardFigures>): ShardFigures => ({ ...noFigures(), uptimeSeconds: 5, ...overrides });

describe('$SYS across shards', () => {
  it('without a cluster port is shard 0 of 1: $SYS/brokers/0 repeats $SYS/broker', async () => {
    const h = new EngineHarness();
    const c = h.client(5);
    await c.connect();
    const values = valuesOf(h);
    expect(values.get('$SYS/broker/clients/connected')).toBe('1');
    expect(values.get('$SYS/brokers/0/clients/connected')).toBe('1');
    expect(values.get('$SYS/brokers/0/subscriptions/count')).toBe(values.get('$SYS/broker/subscriptions/count'));
    expect([...values.keys()].some((t) => t.startsWith('$SYS/brokers/1/'))).toBe(false);
  });

  it('sums the other shards into $SYS/broker and lists each under $SYS/brokers/<shard>, reading its own figures live', async () => {
    const others: Array<ShardFigures | null> = [
      figures({ connected: 3, sessions: 5, publishReceived: 10, subscriptions: 2, uptimeSeconds: 900 }),
      null,
      null,
      // Shard 3 did not answer the last round: it is left out, not counted as zero.
      null,
    ];
    const port: ClusterFigures = { place: () => ({ index: 1, count: 4 }), latest: () => others };
    const h = new EngineHarness();
    h.engine.sys.useCluster(port);
    const c = h.client(5);
    await c.connect();
    let values = valuesOf(h);
    expect(values.get('$SYS/broker/clients/connected')).toBe('4');
    expect(values.get('$SYS/broker/clients/total')).toBe('6');
    expect(values.get('$SYS/broker/clients/disconnected')).toBe('2');
    expect(values.get('$SYS/broker/publish/messages/received')).toBe('10');
    // The cluster's uptime is its longest-running shard's.
    expect(values.get('$SYS/broker/uptime')).toBe('900 seconds');
    expect(values.get('$SYS/brokers/0/clients/connected')).toBe('3');
    expect(values.get('$SYS/brokers/1/clients/connected')).toBe('1');
    expect(values.has('$SYS/brokers/3/clients/connected')).toBe(false);

    // A subscriber gets both views at once, and this shard's part moves with it.
    await c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$SYS/+/+/subscriptions/count', qos: 0 }, { topic: '$SYS/broker/subscriptions/count', qos: 0 }] });
    const got = new Map(c.all<IPublishPacket>('publish').map((p) => [p.topic, text(p)]));
    expect(got.get('$SYS/brokers/1/subscriptions/count')).toBe('2');
    expect(got.get('$SYS/brokers/0/subscriptions/count')).toBe('2');
    expect(got.get('$SYS/broker/subscriptions/count')).toBe('4');
    values = valuesOf(h);
    expect(values.get('$SYS/broker/subscriptions/count')).toBe('4');
  });
});
