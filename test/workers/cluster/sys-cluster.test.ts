import { evictDurableObject, runDurableObjectAlarm } from 'cloudflare:test';
import type { IPublishPacket } from 'mqtt-packet';
import { afterAll, describe, expect, it } from 'vitest';
import { RawClient } from '../raw-client';
import { untilShardMayHibernate } from '../hibernation';
import { clusterSettled, idsOnShards, shardStub } from './cluster-support';

const text = (p: IPublishPacket) => Buffer.from(p.payload as Uint8Array).toString();


// Nothing may be in flight between shards when this file's environment closes.
afterAll(clusterSettled);

describe('$SYS over four shards', () => {
  it('publishes cluster totals under $SYS/broker and each shard under $SYS/brokers/<shard>', async () => {
    const others = idsOnShards('sys-other', [0, 1, 1, 3]);
    const clients: RawClient[] = [];
    for (const id of others) {
      const c = await RawClient.open(5);
      await c.connect({ clientId: id });
      clients.push(c);
    }
    const [watcherId] = idsOnShards('sys-watch', [2]);
    const watcher = await RawClient.open(5);
    await watcher.connect({ clientId: watcherId });
    const filters = ['$SYS/broker/clients/connected', '$SYS/brokers/+/clients/connected'];

    // A new $SYS subscription gets the current values at once; the other shards' figures
    // arrive in the background after the first ask, so ask again until all four shards are there.
    let values = new Map<string, string>();
    for (let attempt = 1; attempt <= 100; attempt++) {
      watcher.send({ cmd: 'subscribe', messageId: attempt, subscriptions: filters.map((topic) => ({ topic, qos: 0 })) });
      await watcher.next('suback');
      values = new Map((await watcher.drain<IPublishPacket>('publish', 50)).map((p) => [p.topic, text(p)]));
      if ([0, 1, 2, 3].every((i) => values.has(`$SYS/brokers/${i}/clients/connected`))) break;
    }
    const perShard = [0, 1, 2, 3].map((i) => Number(values.get(`$SYS/brokers/${i}/clients/connected`)));
    expect(perShard.every(Number.isInteger), JSON.stringify([...values])).toBe(true);
    expect(perShard[0]).toBeGreaterThanOrEqual(1);
    expect(perShard[1]).toBeGreaterThanOrEqual(2);
    expect(perShard[2]).toBeGreaterThanOrEqual(1);
    expect(perShard[3]).toBeGreaterThanOrEqual(1);
    expect(Number(values.get('$SYS/broker/clients/connected'))).toBe(perShard.reduce((a, b) => a + b, 0));

    for (const c of [...clients, watcher]) c.close();
  });

  it('asks the other shards before a $SYS tick when it woke from hibernation without their figures', async () => {
    const others = idsOnShards('sys-tick', [0, 3]);
    const clients: RawClient[] = [];
    for (const id of others) {
      const c = await RawClient.open(5);
      await c.connect({ clientId: id });
      clients.push(c);
    }
    const [watcherId] = idsOnShards('sys-tick-watch', [1]);
    const watcher = await RawClient.open(5);
    await watcher.connect({ clientId: watcherId });
    watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$SYS/broker/clients/connected', qos: 0 }, { topic: '$SYS/brokers/+/clients/connected', qos: 0 }] });
    await watcher.next('suback');
    await watcher.drain('publish', 50);

    // Memory gone, sockets kept: what the shard had fetched is lost, as after hibernation.
    await untilShardMayHibernate(shardStub(1));
    await evictDurableObject(shardStub(1));
    expect(await runDurableObjectAlarm(shardStub(1))).toBe(true);
    const values = new Map((await watcher.drain<IPublishPacket>('publish', 100)).map((p) => [p.topic, text(p)]));
    const perShard = [0, 1, 2, 3].map((i) => Number(values.get(`$SYS/brokers/${i}/clients/connected`)));
    expect(perShard.every(Number.isInteger), JSON.stringify([...values])).toBe(true);
    expect(perShard[0]).toBeGreaterThanOrEqual(1);
    expect(perShard[3]).toBeGreaterThanOrEqual(1);
    expect(Number(values.get('$SYS/broker/clients/connected'))).toBe(perShard.reduce((a, b) => a + b, 0));
    for (const c of [...clients, watcher]) c.close();
  });
});
