import { evictDurableObject } from 'cloudflare:test';
import type { IPublishPacket } from 'mqtt-packet';
import { afterAll, describe, expect, it } from 'vitest';
import { RawClient } from '../raw-client';
import { whileRulesUnreadable } from '../rules-unreadable';
import { clusterSettled, idsOnShards, shardStub } from './cluster-support';


// Nothing may be in flight between shards when this file's environment closes.
afterAll(clusterSettled);

describe('another shard\'s batch for a shard that cannot read its rules', () => {
  it('is not confirmed, so the publisher\'s PUBACK waits, and arrives once D1 answers and the link retries', async () => {
    const [subId] = idsOnShards('norules-csub', [1]);
    const [pubId] = idsOnShards('norules-cpub', [2]);
    const sub = await RawClient.open(4);
    await sub.connect({ clientId: subId, clean: false });
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'norules-cluster/#', qos: 1 }] });
    await sub.next('suback');
    const pub = await RawClient.open(4);
    await pub.connect({ clientId: pubId });

    await whileRulesUnreadable(async () => {
      // The subscriber's shard wakes without its memory when the batch comes; its rules cannot be read.
      await evictDurableObject(shardStub(1), { webSockets: 'hibernate' });
      pub.send({ cmd: 'publish', topic: 'norules-cluster/1', payload: Buffer.from('held'), qos: 1, messageId: 9, retain: false, dup: false });
      expect(await pub.drain('puback', 500)).toEqual([]);
      expect(await sub.drain('publish', 50)).toEqual([]);
    });
    const got = await sub.next<IPublishPacket>('publish', 15_000);
    expect(Buffer.from(got.payload as Uint8Array).toString()).toBe('held');
    expect((await pub.next('puback', 15_000)).messageId).toBe(9);
    sub.close();
    pub.close();
  });
});
